// Command tessera-bench serves a Trillian Tessera log (v1.0.4, POSIX driver) over HTTP so the
// ordersys bench (crates/bench) can append to it in the same run as it appends to
// txlog-service. It is a baseline, not a service: no auth, no reads, a fresh signing key per
// start.
//
//	POST /add             the body is one entry; answers 200 with its index once a published
//	                      checkpoint covers it (Tessera's PublicationAwaiter)
//	POST /add/integrated  the same entry lifecycle, answered once the entry is sequenced and
//	                      integrated: its entry bundle, the tree's tiles and the tree state are
//	                      written and fsync'd (the future Add returns has resolved)
//	GET  /ready           200 once the appender is up
//
// Build once (the go.sum pins every module; nothing is downloaded at run time):
//
//	cd crates/bench/tessera && go build -o ~/.cache/ordersys/bin/tessera-bench .
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Tuned for the lowest latency per append the POSIX driver allows, which is what a writer
// waiting for its acknowledgement sees; the bench's single-event rows are that case.
const (
	// checkpointInterval is the POSIX driver's minimum (storage/posix: minCheckpointInterval,
	// 100 ms; the library default is 10 s). The driver publishes as soon as a batch is
	// integrated, unless the previous checkpoint is younger than this, so a shorter interval
	// is not accepted and a longer one only adds waiting.
	checkpointInterval = 100 * time.Millisecond
	// pollPeriod is how often the PublicationAwaiter rereads the checkpoint file while someone
	// waits (one small read from the page cache): 5 ms adds at most 5 ms to a wait whose
	// floor is the 100 ms interval above, and costs nothing when nobody waits.
	pollPeriod = 5 * time.Millisecond
	// batchMaxSize is Tessera's default (256, one full entry bundle); batches also close when
	// this many entries are waiting, which 64 writers never reach.
	batchMaxSize = 256
)

func main() {
	listen := flag.String("listen", "127.0.0.1:2025", "address:port to serve on (port 0: any free port; the address is printed)")
	dir := flag.String("storage-dir", "", "directory of the log (created; should be empty)")
	// batchMaxAge: the library default is 250 ms and the conformance server uses 1 s, which
	// favour fewer, larger bundles over latency. A writer waits at least this long before its
	// entry is written, so a few milliseconds gathers what concurrent writers send while the
	// previous batch is being flushed (the queue flushes one batch at a time) without adding
	// much to a lone writer's wait. 5 ms did best at 16 and 64 writers in a sweep of 1, 2, 5,
	// 10 and 20 ms on the 2-vCPU bench machine (2026-12-08): shorter ages flush small batches
	// one after another while writers queue behind them, longer ones make every writer wait.
	batchMaxAge := flag.Duration("batch-max-age", 5*time.Millisecond, "longest an entry waits in Tessera's queue before its batch is flushed")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-storage-dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	skey, _, err := note.GenerateKey(rand.Reader, "ordersys-bench/tessera")
	if err != nil {
		log.Fatalf("generating the checkpoint key: %v", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		log.Fatalf("checkpoint signer: %v", err)
	}
	driver, err := posix.New(ctx, posix.Config{Path: *dir})
	if err != nil {
		log.Fatalf("POSIX storage: %v", err)
	}
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(checkpointInterval).
		WithBatching(batchMaxSize, *batchMaxAge))
	if err != nil {
		log.Fatalf("appender: %v", err)
	}
	awaiter := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, pollPeriod)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /add", addHandler(func(r *http.Request, e *tessera.Entry) (tessera.Index, error) {
		index, _, err := awaiter.Await(r.Context(), appender.Add(r.Context(), e))
		return index, err
	}))
	mux.HandleFunc("POST /add/integrated", addHandler(func(r *http.Request, e *tessera.Entry) (tessera.Index, error) {
		return appender.Add(r.Context(), e)()
	}))

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		closing, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = server.Shutdown(closing)
		if err := shutdown(closing); err != nil {
			log.Printf("appender shutdown: %v", err)
		}
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
}

// addHandler reads the body as one entry, appends it with add and answers its index.
func addHandler(add func(*http.Request, *tessera.Entry) (tessera.Index, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		index, err := add(r, tessera.NewEntry(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprintf(w, "%d", index.Index)
	}
}
