package main

import (
	"fmt"
	"strings"

	formats "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// witnessFlag collects repeated --witness verifier keys.
type witnessFlag []string

func (w *witnessFlag) String() string       { return strings.Join(*w, ",") }
func (w *witnessFlag) Set(key string) error { *w = append(*w, key); return nil }

// setWitnesses parses the witnesses' cosignature/v1 verifier keys; quorum 0 means all of them.
func (c *checker) setWitnesses(keys []string, quorum int) error {
	for _, key := range keys {
		v, err := formats.NewVerifierForCosignatureV1(key)
		if err != nil {
			return usageError{fmt.Errorf("--witness %q: %v", key, err)}
		}
		c.witnesses = append(c.witnesses, v)
	}
	if quorum == 0 {
		quorum = len(keys)
	}
	if quorum < 0 || quorum > len(keys) || (len(keys) > 0 && quorum < 1) {
		return usageError{fmt.Errorf("--quorum %d: must be from 1 to the %d --witness keys", quorum, len(keys))}
	}
	c.quorum = quorum
	return nil
}

// checkCosignatures requires valid cosignatures from at least the quorum of witnesses among the
// signatures note.Open verified (it refuses a note where a known key's signature is invalid).
func (c *checker) checkCosignatures(n *note.Note) error {
	c.cosignedBy = nil
	var missing []string
	for _, w := range c.witnesses {
		found := false
		for _, s := range n.Sigs {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				found = true
			}
		}
		if found {
			c.cosignedBy = append(c.cosignedBy, w.Name())
		} else {
			missing = append(missing, w.Name())
		}
	}
	if len(c.cosignedBy) < c.quorum {
		return fmt.Errorf("checkpoint cosignatures: %d of the %d required witnesses cosigned; missing %s",
			len(c.cosignedBy), c.quorum, strings.Join(missing, ", "))
	}
	return nil
}
