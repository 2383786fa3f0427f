package main

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	formats "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// newWitness returns a cosignature/v1 signer and its verifier key.
func newWitness(t *testing.T, name string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := formats.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	cosigVkey, err := formats.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return signer, cosigVkey
}

// cosign adds the witnesses' cosignatures to the fake log's checkpoint.
func cosign(t *testing.T, f *fakeLog, witnesses ...note.Signer) {
	t.Helper()
	verifier, err := note.NewVerifier(f.vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(f.note, note.VerifierList(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if f.note, err = note.Sign(n, witnesses...); err != nil {
		t.Fatal(err)
	}
}

func TestAcceptsACheckpointCosignedByTheQuorum(t *testing.T) {
	f := newFakeLog(t, 10, 10)
	a, aKey := newWitness(t, "a.example/witness")
	b, bKey := newWitness(t, "b.example/witness")
	_, cKey := newWitness(t, "c.example/witness")
	cosign(t, f, a, b)
	code, stdout, stderr := check(t, f, "--witness", aKey, "--witness", bKey)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatal(err)
	}
	if strings.Join(sum.CosignedBy, " ") != "a.example/witness b.example/witness" {
		t.Fatalf("cosigned_by %v", sum.CosignedBy)
	}
	if code, _, stderr := check(t, f, "--witness", aKey, "--witness", cKey, "--quorum", "1"); code != 0 {
		t.Fatalf("quorum 1 of 2: exit %d: %s", code, stderr)
	}
}

func TestRejectsMissingOrForgedCosignatures(t *testing.T) {
	f := newFakeLog(t, 10, 10)
	a, aKey := newWitness(t, "a.example/witness")
	_, cKey := newWitness(t, "c.example/witness")
	cosign(t, f, a)
	expectFailure(t, f, 1, "missing c.example/witness", "--witness", aKey, "--witness", cKey)
	// A line in a's name and key id whose signature is not a's.
	forged := newFakeLog(t, 10, 10)
	cosign(t, forged, a)
	lines := strings.Split(string(forged.note), "\n")
	last := lines[len(lines)-2]
	lines[len(lines)-2] = last[:len(last)-8] + "AAAAAAA="
	forged.note = []byte(strings.Join(lines, "\n"))
	expectFailure(t, forged, 1, "checkpoint signature", "--witness", aKey)
	expectFailure(t, f, 2, "--quorum", "--witness", aKey, "--quorum", "2")
}
