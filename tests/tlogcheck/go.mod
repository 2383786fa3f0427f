module ordersys/tests/tlogcheck

go 1.23.0

require (
	github.com/gowebpki/jcs v1.0.2
	github.com/transparency-dev/merkle v0.0.2
	golang.org/x/mod v0.26.0
)
