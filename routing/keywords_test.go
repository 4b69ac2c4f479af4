package routing

import (
	"strings"
	"testing"
)

// Every keyword is found through the hash table, in any case, and
// identifiers are not.
func TestLookupKeyword(t *testing.T) {
	if len(keywords) > len(keywordSlots)/2 {
		t.Fatalf("%d keywords fill the %d-slot table too much", len(keywords), len(keywordSlots))
	}
	for k, v := range keywords {
		for _, w := range []string{k, strings.ToLower(k)} {
			if got := lookupKeyword([]byte(w)); got != v {
				t.Errorf("lookupKeyword(%q) = %+v, want %+v", w, got, v)
			}
		}
	}
	for k, v := range keywords {
		if v.id > kwOther && classifierKeyword([]byte(strings.ToLower(k))) != v.id {
			t.Errorf("classifierKeyword(%q) misses it", k)
		}
	}
	for _, w := range []string{"sbtest1", "id", "selectx", "SELEC", "x", "", strings.Repeat("A", 100)} {
		if got := lookupKeyword([]byte(w)); got != (kwInfo{}) {
			t.Errorf("lookupKeyword(%q) = %+v, want none", w, got)
		}
	}
}
