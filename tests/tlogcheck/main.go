// Command tlogcheck is an independent check of the transaction log's verifiable log (SPEC
// section 10), written in Go with libraries that share no code with the Rust service:
// golang.org/x/mod/sumdb/note for the signed checkpoint, github.com/gowebpki/jcs for RFC 8785,
// github.com/transparency-dev/merkle for the RFC 9162 tree and proofs.
//
//	tlogcheck --log URL --key VERIFIER_KEY [--token BEARER] [--origin ORIGIN]
//	          [--witness WITNESS_VKEY ... [--quorum K]]
//
// It verifies the latest checkpoint's signature, recomputes its root from every record, checks a
// sample of inclusion and consistency proofs against roots it computed itself, and checks that
// bad proof requests are refused with 422. With --witness, the checkpoint must also carry valid
// C2SP tlog-cosignature (cosignature/v1) cosignatures from at least K of those witnesses
// (default: all), verified with github.com/transparency-dev/formats/note. Exit 0 and one JSON summary line on stdout when all
// holds; 1 and one line on stderr naming what failed; 2 on a usage or connection error.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

var hasher = rfc6962.DefaultHasher

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// usageError is a usage or connection error (exit 2); any other error is a failed check (exit 1).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("tlogcheck", flag.ContinueOnError)
	flags.SetOutput(stderr)
	logURL := flags.String("log", "", "base URL of the transaction log service (required)")
	key := flags.String("key", "", "verifier key of the checkpoint signer, <name>+<hex id>+<base64 key> (required)")
	token := flags.String("token", "", "bearer token with scope txlog:read")
	origin := flags.String("origin", "", "expected checkpoint origin (first line); not checked when empty")
	var witnessKeys witnessFlag
	flags.Var(&witnessKeys, "witness", "cosignature/v1 verifier key of a witness that must have cosigned the checkpoint (repeatable)")
	quorum := flags.Int("quorum", 0, "how many of the --witness keys must have cosigned (default: all)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 || *logURL == "" || *key == "" {
		fmt.Fprintln(stderr, "usage: tlogcheck --log URL --key VERIFIER_KEY [--token BEARER] [--origin ORIGIN]")
		return 2
	}
	c, err := newChecker(*logURL, *key, *token, *origin)
	if err == nil {
		err = c.setWitnesses(witnessKeys, *quorum)
	}
	if err == nil {
		var sum *summary
		if sum, err = c.check(); err == nil {
			line, _ := json.Marshal(sum)
			fmt.Fprintf(stdout, "%s\n", line)
			return 0
		}
	}
	fmt.Fprintf(stderr, "tlogcheck: %v\n", err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

type summary struct {
	Size               uint64 `json:"size"`
	Root               string `json:"root"` // base64, as in the checkpoint
	InclusionChecked   int    `json:"inclusion_checked"`
	ConsistencyChecked int    `json:"consistency_checked"`
	// The witnesses whose valid cosignatures the checkpoint carries (with --witness).
	CosignedBy []string `json:"cosigned_by,omitempty"`
}

type checker struct {
	base     string
	token    string
	origin   string
	verifier note.Verifier
	client   *http.Client
	// With --witness: the witnesses' verifiers, how many must have cosigned, and who did.
	witnesses  []note.Verifier
	quorum     int
	cosignedBy []string
}

func newChecker(logURL, key, token, origin string) (*checker, error) {
	u, err := url.Parse(logURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--log %q: not an http(s) URL", logURL)}
	}
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return nil, usageError{fmt.Errorf("--key: %v", err)}
	}
	return &checker{
		base:     strings.TrimSuffix(logURL, "/"),
		token:    token,
		origin:   origin,
		verifier: verifier,
		client:   &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil}},
	}, nil
}

func (c *checker) check() (*summary, error) {
	size, root, err := c.checkpoint()
	if err != nil {
		return nil, err
	}
	leaves, err := c.leaves(size)
	if err != nil {
		return nil, err
	}

	// What to check: (seq, tree_size) and (from, to) pairs, and the roots they need.
	var inclusions, consistencies [][2]uint64
	if size > 0 {
		for _, seq := range sample(0, size-1, 64) {
			inclusions = append(inclusions, [2]uint64{seq, size})
		}
		for _, m := range sample(1, size, 64) {
			consistencies = append(consistencies, [2]uint64{m, size})
		}
	}
	for _, n := range smallerSizes(size) {
		for _, seq := range uniq(0, n/2, n-1) {
			inclusions = append(inclusions, [2]uint64{seq, n})
		}
		for _, m := range uniq(1, max(n/2, 1), n-1, n) {
			if m > 0 {
				consistencies = append(consistencies, [2]uint64{m, n})
			}
		}
	}
	sizes := []uint64{size}
	for _, p := range inclusions {
		sizes = append(sizes, p[1])
	}
	for _, p := range consistencies {
		sizes = append(sizes, p[0], p[1])
	}
	roots := computeRoots(leaves, sizes)

	if !bytes.Equal(roots[size], root) {
		return nil, fmt.Errorf("root: the checkpoint signs %s for size %d but the records give %s",
			base64.StdEncoding.EncodeToString(root), size, base64.StdEncoding.EncodeToString(roots[size]))
	}
	for _, p := range inclusions {
		if err := c.inclusion(p[0], p[1], leaves[p[0]], roots[p[1]]); err != nil {
			return nil, fmt.Errorf("inclusion seq=%d tree_size=%d: %w", p[0], p[1], err)
		}
	}
	for _, p := range consistencies {
		if err := c.consistency(p[0], p[1], roots[p[0]], roots[p[1]]); err != nil {
			return nil, fmt.Errorf("consistency from=%d to=%d: %w", p[0], p[1], err)
		}
	}
	if err := c.badRequests(size); err != nil {
		return nil, err
	}
	return &summary{size, base64.StdEncoding.EncodeToString(root), len(inclusions), len(consistencies), c.cosignedBy}, nil
}

// checkpoint fetches and verifies the latest signed checkpoint: its size and root hash.
func (c *checker) checkpoint() (uint64, []byte, error) {
	body, mediaType, err := c.get("/v1/checkpoint")
	if err != nil {
		return 0, nil, fmt.Errorf("checkpoint: %w", err)
	}
	if mediaType != "text/plain" {
		return 0, nil, fmt.Errorf("checkpoint: content type %q, want text/plain", mediaType)
	}
	n, err := note.Open(body, note.VerifierList(append([]note.Verifier{c.verifier}, c.witnesses...)...))
	if err != nil {
		return 0, nil, fmt.Errorf("checkpoint signature (key %s): %v", c.verifier.Name(), err)
	}
	if !slices.ContainsFunc(n.Sigs, func(s note.Signature) bool { return s.Hash == c.verifier.KeyHash() && s.Name == c.verifier.Name() }) {
		return 0, nil, fmt.Errorf("checkpoint signature: not signed by the log's key %s", c.verifier.Name())
	}
	if err := c.checkCosignatures(n); err != nil {
		return 0, nil, err
	}
	origin, size, root, err := parseCheckpoint(n.Text)
	if err != nil {
		return 0, nil, fmt.Errorf("checkpoint: %v", err)
	}
	if c.origin != "" && origin != c.origin {
		return 0, nil, fmt.Errorf("checkpoint: origin %q, want %q", origin, c.origin)
	}
	return size, root, nil
}

var decimal = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

// parseCheckpoint parses the signed text `<origin>\n<size>\n<base64 root>\n`, strictly: exactly
// these three lines, a decimal size without leading zeros, a canonical base64 32-byte root.
func parseCheckpoint(text string) (origin string, size uint64, root []byte, err error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return "", 0, nil, fmt.Errorf("not three lines <origin>, <size>, <root>: %q", text)
	}
	if origin = lines[0]; origin == "" {
		return "", 0, nil, errors.New("empty origin")
	}
	if !decimal.MatchString(lines[1]) {
		return "", 0, nil, fmt.Errorf("size %q is not a decimal number", lines[1])
	}
	if size, err = strconv.ParseUint(lines[1], 10, 64); err != nil {
		return "", 0, nil, fmt.Errorf("size %q: %v", lines[1], err)
	}
	root, err = base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return "", 0, nil, fmt.Errorf("root %q is not the base64 of 32 bytes", lines[2])
	}
	return origin, size, root, nil
}

// leaves downloads every record in seq order and returns the leaf data (RFC 8785 canonical
// JSON) of the first size records.
func (c *checker) leaves(size uint64) ([][]byte, error) {
	var leaves [][]byte
	var served uint64
	path := "/v1/transactions?order=asc&limit=500"
	for {
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor *string           `json:"next_cursor"`
		}
		if err := c.getJSON(path, &page); err != nil {
			return nil, fmt.Errorf("records after seq %d: %w", int64(served)-1, err)
		}
		for _, item := range page.Items {
			var record struct {
				Seq *uint64 `json:"seq"`
			}
			if err := json.Unmarshal(item, &record); err != nil || record.Seq == nil {
				return nil, fmt.Errorf("record #%d (from 0): no integer seq", served)
			}
			if *record.Seq != served {
				return nil, fmt.Errorf("record #%d (from 0): seq %d, want %d", served, *record.Seq, served)
			}
			if served < size {
				data, err := jcs.Transform(item)
				if err != nil {
					return nil, fmt.Errorf("record seq=%d: RFC 8785: %v", served, err)
				}
				leaves = append(leaves, data)
			}
			served++
		}
		if page.NextCursor == nil {
			break
		}
		if len(page.Items) == 0 {
			return nil, fmt.Errorf("records after seq %d: an empty page with a next_cursor", int64(served)-1)
		}
		path = "/v1/transactions?order=asc&limit=500&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	if served < size {
		return nil, fmt.Errorf("records: the checkpoint's size is %d but the log served %d records", size, served)
	}
	return leaves, nil
}

// computeRoots returns the RFC 9162 root of each tree size in sizes, in one pass over the leaves.
func computeRoots(leaves [][]byte, sizes []uint64) map[uint64][]byte {
	roots := map[uint64][]byte{}
	want := map[uint64]bool{}
	for _, n := range sizes {
		want[n] = true
	}
	if want[0] {
		roots[0] = hasher.EmptyRoot()
	}
	tree := (&compact.RangeFactory{Hash: hasher.HashChildren}).NewEmptyRange(0)
	for i, data := range leaves {
		if err := tree.Append(hasher.HashLeaf(data), nil); err != nil {
			panic(err) // cannot happen: the range starts at 0 and only grows
		}
		if n := uint64(i + 1); want[n] {
			roots[n], _ = tree.GetRootHash(nil)
		}
	}
	return roots
}

func (c *checker) inclusion(seq, size uint64, data, root []byte) error {
	var p struct {
		Seq      *uint64   `json:"seq"`
		TreeSize *uint64   `json:"tree_size"`
		LeafHash string    `json:"leaf_hash"`
		Hashes   *[]string `json:"hashes"`
	}
	if err := c.getJSON(fmt.Sprintf("/v1/proofs/inclusion?seq=%d&tree_size=%d", seq, size), &p); err != nil {
		return err
	}
	if p.Seq == nil || *p.Seq != seq || p.TreeSize == nil || *p.TreeSize != size || p.Hashes == nil {
		return errors.New("the answer does not echo seq and tree_size or has no hashes")
	}
	leaf := hasher.HashLeaf(data)
	if got, err := decodeHash(p.LeafHash); err != nil {
		return fmt.Errorf("leaf_hash: %v", err)
	} else if !bytes.Equal(got, leaf) {
		return fmt.Errorf("leaf_hash %s, but the record hashes to %x", p.LeafHash, leaf)
	}
	hashes, err := decodeHashes(*p.Hashes)
	if err != nil {
		return err
	}
	return oneLine(proof.VerifyInclusion(hasher, seq, size, leaf, hashes, root))
}

func (c *checker) consistency(from, to uint64, root1, root2 []byte) error {
	var p struct {
		From   *uint64   `json:"from"`
		To     *uint64   `json:"to"`
		Hashes *[]string `json:"hashes"`
	}
	if err := c.getJSON(fmt.Sprintf("/v1/proofs/consistency?from=%d&to=%d", from, to), &p); err != nil {
		return err
	}
	if p.From == nil || *p.From != from || p.To == nil || *p.To != to || p.Hashes == nil {
		return errors.New("the answer does not echo from and to or has no hashes")
	}
	hashes, err := decodeHashes(*p.Hashes)
	if err != nil {
		return err
	}
	return oneLine(proof.VerifyConsistency(hasher, from, to, hashes, root1, root2))
}

// oneLine rewrites the library's multi-line root mismatch as one line with hex roots.
func oneLine(err error) error {
	var mismatch proof.RootMismatchError
	if errors.As(err, &mismatch) {
		return fmt.Errorf("the proof gives root %x, want %x", mismatch.CalculatedRoot, mismatch.ExpectedRoot)
	}
	return err
}

// badRequests checks that impossible proof requests are 422 application/problem+json.
func (c *checker) badRequests(size uint64) error {
	const huge = uint64(1) << 62 // beyond any checkpoint
	cases := []struct {
		path string
		racy bool // a newer checkpoint may make it valid
	}{
		{fmt.Sprintf("/v1/proofs/inclusion?seq=%d&tree_size=%d", size, size), false},
		{fmt.Sprintf("/v1/proofs/inclusion?seq=0&tree_size=%d", huge), false},
		{fmt.Sprintf("/v1/proofs/inclusion?seq=0&tree_size=%d", size+1), true},
		{"/v1/proofs/inclusion?seq=x&tree_size=1", false},
		{"/v1/proofs/inclusion?seq=-1&tree_size=1", false},
		{"/v1/proofs/inclusion?seq=0&tree_size=18446744073709551616", false},
		{"/v1/proofs/inclusion?tree_size=1", false},
		{fmt.Sprintf("/v1/proofs/consistency?from=0&to=%d", size), false},
		{"/v1/proofs/consistency?from=2&to=1", false},
		{fmt.Sprintf("/v1/proofs/consistency?from=1&to=%d", huge), false},
		{fmt.Sprintf("/v1/proofs/consistency?from=1&to=%d", size+1), true},
		{"/v1/proofs/consistency?from=1&to=1.0", false},
		{"/v1/proofs/consistency?from=one&to=1", false},
	}
	for _, tc := range cases {
		status, mediaType, err := c.request(tc.path)
		if err != nil {
			return fmt.Errorf("bad request GET %s: %w", tc.path, err)
		}
		if status == http.StatusUnprocessableEntity && mediaType == "application/problem+json" {
			continue
		}
		if tc.racy {
			if now, _, err := c.checkpoint(); err == nil && now > size {
				continue // the log grew meanwhile
			}
		}
		return fmt.Errorf("bad request GET %s: %d %s, want 422 application/problem+json", tc.path, status, mediaType)
	}
	return nil
}

// request sends an authenticated GET and returns the status and media type.
func (c *checker) request(path string) (int, string, error) {
	resp, _, err := c.do(path)
	if err != nil {
		return 0, "", err
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return resp.StatusCode, mediaType, nil
}

// get sends an authenticated GET and returns the body and media type of a 200 answer.
// A transport error, 401 or 403 is a usageError.
func (c *checker) get(path string) ([]byte, string, error) {
	resp, body, err := c.do(path)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, "", usageError{fmt.Errorf("HTTP %d (check --token): %s", resp.StatusCode, snippet(body))}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(body))
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return body, mediaType, nil
}

func (c *checker) getJSON(path string, v any) error {
	body, mediaType, err := c.get(path)
	if err != nil {
		return err
	}
	if mediaType != "application/json" {
		return fmt.Errorf("content type %q, want application/json", mediaType)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("answer: %v", err)
	}
	return nil
}

func (c *checker) do(path string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, nil, usageError{err}
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, usageError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("reading GET %s: %v", path, err)}
	}
	return resp, body, nil
}

func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// decodeHash decodes a lowercase hex SHA-256.
func decodeHash(s string) ([]byte, error) {
	h, err := hex.DecodeString(s)
	if err != nil || len(h) != 32 || s != strings.ToLower(s) {
		return nil, fmt.Errorf("%q is not 64 lowercase hex digits", s)
	}
	return h, nil
}

func decodeHashes(hexes []string) ([][]byte, error) {
	hashes := make([][]byte, len(hexes))
	for i, s := range hexes {
		h, err := decodeHash(s)
		if err != nil {
			return nil, fmt.Errorf("hashes[%d]: %v", i, err)
		}
		hashes[i] = h
	}
	return hashes, nil
}

// sample returns the values lo..hi when there are at most limit of them; otherwise lo, hi, the
// powers of two and their neighbours in range, and about limit/2 more spread evenly.
func sample(lo, hi uint64, limit int) []uint64 {
	if hi < lo {
		return nil
	}
	var out []uint64
	if hi-lo < uint64(limit) {
		for v := lo; v <= hi; v++ {
			out = append(out, v)
		}
		return out
	}
	out = append(out, lo, hi)
	for p := uint64(1); p <= hi+1 && p != 0; p <<= 1 {
		for _, v := range []uint64{p - 1, p, p + 1} {
			if v >= lo && v <= hi {
				out = append(out, v)
			}
		}
	}
	step := (hi - lo) / uint64(limit/2)
	for v := lo; v <= hi && v >= lo; v += step {
		out = append(out, v)
	}
	return uniq(out...)
}

// smallerSizes returns a few tree sizes below size: 1, 2, 3, the largest power of two below size
// and its neighbours, size/2 and size-1.
func smallerSizes(size uint64) []uint64 {
	var p uint64 = 1
	for p*2 < size {
		p *= 2
	}
	var out []uint64
	for _, n := range uniq(1, 2, 3, p-1, p, p+1, size/2, size-1) {
		if n > 0 && n < size {
			out = append(out, n)
		}
	}
	return out
}

func uniq(values ...uint64) []uint64 {
	values = slices.Clone(values)
	slices.Sort(values)
	return slices.Compact(values)
}
