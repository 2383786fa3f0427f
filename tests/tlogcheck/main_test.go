package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// fakeLog serves a log the way SPEC section 10 describes, with its tree and proofs computed by
// golang.org/x/mod/sumdb/tlog (not the library the checker uses), and faults to inject.
type fakeLog struct {
	served  []string    // each record as the API serves it: keys not in canonical order
	stored  []tlog.Hash // x/mod tlog stored hashes of all records
	size    int64       // the checkpoint's size
	note    []byte      // the signed checkpoint
	vkey    string
	root    tlog.Hash
	token   string
	pageLen int

	badInclusion   int64 // seq whose inclusion proofs are corrupted, or -1
	badConsistency int64 // from whose consistency proofs are corrupted, or -1
	no422          bool  // answer 400 to bad proof requests
}

func newFakeLog(t *testing.T, records, size int) *fakeLog {
	t.Helper()
	f := &fakeLog{size: int64(size), token: "auditor-token", pageLen: 40, badInclusion: -1, badConsistency: -1}
	reader := f.reader()
	for i := 0; i < records; i++ {
		hash := sha256.Sum256([]byte(strconv.Itoa(i)))
		// The same record twice: as served (hash last, an escape, 1.50) and canonical (RFC 8785).
		f.served = append(f.served, fmt.Sprintf(
			`{"amount": 1.50, "note": "caf\u00e9 #%d", "seq": %d, "hash": "%x"}`, i, i, hash))
		canonical := fmt.Sprintf(`{"amount":1.5,"hash":"%x","note":"café #%d","seq":%d}`, hash, i, i)
		hashes, err := tlog.StoredHashes(int64(i), []byte(canonical), reader)
		if err != nil {
			t.Fatal(err)
		}
		f.stored = append(f.stored, hashes...)
	}
	var err error
	if f.root, err = tlog.TreeHash(f.size, reader); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "ordersys-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("ordersys/txlog\n%d\n%s\n", size, base64.StdEncoding.EncodeToString(f.root[:]))
	if f.note, err = note.Sign(&note.Note{Text: text}, signer); err != nil {
		t.Fatal(err)
	}
	f.vkey = vkey
	return f
}

func (f *fakeLog) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = f.stored[x]
		}
		return out, nil
	})
}

func (f *fakeLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		problem(w, http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/v1/checkpoint":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(f.note)
	case "/v1/transactions":
		start, _ := strconv.Atoi(q.Get("cursor"))
		end := min(start+f.pageLen, len(f.served))
		next := "null"
		if end < len(f.served) {
			next = strconv.Quote(strconv.Itoa(end))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"items": [%s], "next_cursor": %s}`, strings.Join(f.served[start:end], ", "), next)
	case "/v1/proofs/inclusion":
		seq, err1 := strconv.ParseInt(q.Get("seq"), 10, 64)
		n, err2 := strconv.ParseInt(q.Get("tree_size"), 10, 64)
		if err1 != nil || err2 != nil || seq < 0 || n > f.size || seq >= n {
			f.refuse(w)
			return
		}
		p, err := tlog.ProveRecord(n, seq, f.reader())
		if err != nil {
			panic(err)
		}
		if seq == f.badInclusion {
			p = corrupt(p)
		}
		leaf := f.stored[tlog.StoredHashIndex(0, seq)]
		writeJSON(w, map[string]any{"seq": seq, "tree_size": n, "leaf_hash": hex.EncodeToString(leaf[:]), "hashes": hexes(p)})
	case "/v1/proofs/consistency":
		from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
		to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
		if err1 != nil || err2 != nil || from < 1 || from > to || to > f.size {
			f.refuse(w)
			return
		}
		p, err := tlog.ProveTree(to, from, f.reader())
		if err != nil {
			panic(err)
		}
		if from == f.badConsistency {
			p = corrupt(p)
		}
		writeJSON(w, map[string]any{"from": from, "to": to, "hashes": hexes(p)})
	default:
		problem(w, http.StatusNotFound)
	}
}

func (f *fakeLog) refuse(w http.ResponseWriter) {
	if f.no422 {
		problem(w, http.StatusBadRequest)
	} else {
		problem(w, http.StatusUnprocessableEntity)
	}
}

func problem(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"/problems/x","title":"x","status":%d}`, status)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// corrupt flips a bit of the first hash, or adds a hash to an empty proof.
func corrupt(p []tlog.Hash) []tlog.Hash {
	if len(p) == 0 {
		return []tlog.Hash{{1}}
	}
	p = append([]tlog.Hash(nil), p...)
	p[0][0] ^= 1
	return p
}

func hexes(p []tlog.Hash) []string {
	out := []string{}
	for _, h := range p {
		out = append(out, hex.EncodeToString(h[:]))
	}
	return out
}

// check runs the checker against f and returns its exit code, stdout and stderr.
func check(t *testing.T, f *fakeLog, extra ...string) (int, string, string) {
	t.Helper()
	srv := httptest.NewServer(f) // listens on 127.0.0.1
	defer srv.Close()
	args := append([]string{"--log", srv.URL, "--key", f.vkey, "--token", f.token}, extra...)
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func expectFailure(t *testing.T, f *fakeLog, wantCode int, wantErr string, extra ...string) {
	t.Helper()
	code, stdout, stderr := check(t, f, extra...)
	if code != wantCode || stdout != "" || !strings.Contains(stderr, wantErr) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and an error with %q", code, stdout, stderr, wantCode, wantErr)
	}
}

func TestAcceptsAGoodLog(t *testing.T) {
	for _, tc := range []struct{ records, size int }{{150, 140}, {5, 5}, {3, 1}, {2, 0}, {64, 64}, {300, 300}} {
		t.Run(fmt.Sprintf("%d/%d", tc.size, tc.records), func(t *testing.T) {
			f := newFakeLog(t, tc.records, tc.size)
			code, stdout, stderr := check(t, f, "--origin", "ordersys/txlog")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var sum summary
			if err := json.Unmarshal([]byte(stdout), &sum); err != nil || !strings.HasSuffix(stdout, "}\n") || strings.Count(stdout, "\n") != 1 {
				t.Fatalf("stdout %q: %v", stdout, err)
			}
			want := summary{Size: uint64(tc.size), Root: base64.StdEncoding.EncodeToString(f.root[:])}
			if sum.Size != want.Size || sum.Root != want.Root || (tc.size > 0 && (sum.InclusionChecked == 0 || sum.ConsistencyChecked == 0)) {
				t.Fatalf("summary %+v, want size %d root %s", sum, want.Size, want.Root)
			}
		})
	}
}

func TestRejectsAnotherKey(t *testing.T) {
	f := newFakeLog(t, 10, 10)
	f.vkey = newFakeLog(t, 1, 1).vkey // same name, another key
	expectFailure(t, f, 1, "checkpoint signature")
}

func TestRejectsAnotherOrigin(t *testing.T) {
	expectFailure(t, newFakeLog(t, 10, 10), 1, `origin "ordersys/txlog", want "other"`, "--origin", "other")
}

func TestRejectsATamperedRecord(t *testing.T) {
	f := newFakeLog(t, 150, 140)
	f.served[77] = strings.Replace(f.served[77], "#77", "#78", 1)
	expectFailure(t, f, 1, "root: the checkpoint signs")
}

func TestIgnoresRecordsBeyondTheCheckpoint(t *testing.T) {
	f := newFakeLog(t, 150, 140)
	f.served[145] = strings.Replace(f.served[145], "#145", "#146", 1)
	if code, _, stderr := check(t, f); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestRejectsAMissingRecord(t *testing.T) {
	f := newFakeLog(t, 150, 140)
	f.served = append(f.served[:50:50], f.served[51:]...)
	expectFailure(t, f, 1, "seq 51, want 50")
}

func TestRejectsABadInclusionProof(t *testing.T) {
	f := newFakeLog(t, 150, 140)
	f.badInclusion = 5
	expectFailure(t, f, 1, "inclusion seq=5 tree_size=140: ")
}

func TestRejectsABadConsistencyProof(t *testing.T) {
	f := newFakeLog(t, 150, 140)
	f.badConsistency = 9
	expectFailure(t, f, 1, "consistency from=9 to=140: ")
}

func TestRejectsBadRequestsNotAnswered422(t *testing.T) {
	f := newFakeLog(t, 20, 20)
	f.no422 = true
	expectFailure(t, f, 1, "bad request GET /v1/proofs/inclusion?seq=20&tree_size=20: 400 application/problem+json, want 422")
}

func TestUsageAndConnectionErrorsExit2(t *testing.T) {
	f := newFakeLog(t, 3, 3)
	var stderr bytes.Buffer
	for _, args := range [][]string{
		{"--log", "http://127.0.0.1:1"},
		{"--log", "http://127.0.0.1:1", "--key", "not-a-key"},
		{"--log", "127.0.0.1:1", "--key", f.vkey},
		{"--log", "http://127.0.0.1:1", "--key", f.vkey}, // nothing listens on port 1
	} {
		if code := run(args, &bytes.Buffer{}, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	f.token = "another-token" // the checker's token is refused: 401
	srv := httptest.NewServer(f)
	defer srv.Close()
	if code := run([]string{"--log", srv.URL, "--key", f.vkey, "--token", "auditor-token"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("401: exit %d, want 2", code)
	}
}

func TestParseCheckpoint(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	if _, size, _, err := parseCheckpoint("o\n12\n" + root + "\n"); err != nil || size != 12 {
		t.Fatalf("good checkpoint: size %d, %v", size, err)
	}
	for _, text := range []string{
		"o\n12\n" + root,                                // no final newline
		"o\n12\n" + root + "\nextension\n",              // a fourth line
		"\n12\n" + root + "\n",                          // no origin
		"o\n012\n" + root + "\n",                        // leading zero
		"o\n-1\n" + root + "\n",                         // negative
		"o\n18446744073709551616\n" + root + "\n",       // 2^64
		"o\n12\n" + root[:40] + "\n",                    // short root
		"o\n12\n" + strings.TrimRight(root, "=") + "\n", // unpadded
	} {
		if _, _, _, err := parseCheckpoint(text); err == nil {
			t.Errorf("%q parsed", text)
		}
	}
}

func TestSample(t *testing.T) {
	if got := sample(0, 9, 64); len(got) != 10 || got[0] != 0 || got[9] != 9 {
		t.Fatalf("small: %v", got)
	}
	got := sample(0, 1_000_000, 64)
	has := map[uint64]bool{}
	for _, v := range got {
		has[v] = true
	}
	for _, v := range []uint64{0, 1, 1_000_000, 1023, 1024, 1025, 524288} {
		if !has[v] {
			t.Errorf("sample misses %d: %v", v, got)
		}
	}
	if len(got) > 100 {
		t.Errorf("%d values", len(got))
	}
}
