package gtid

import "testing"

func TestParse(t *testing.T) {
	for in, ok := range map[string]bool{"0-1-100": true, "12-4294967295-9": true, "0-1": false, "a-1-2": false, "0-1-2-3": false, "0--2": false, "0-4294967296-1": false} {
		g, got := Parse([]byte(in))
		if got != ok || ok && g.String() != in {
			t.Errorf("%q: %v %v", in, g, got)
		}
	}
}

func TestParseGTIDErrors(t *testing.T) {
	if g, err := ParseGTID(" 0-1-100 "); err != nil || g != (GTID{0, 1, 100}) {
		t.Errorf("ParseGTID: %v %v", g, err)
	}
	for _, in := range []string{"", "0-1", "x-1-2", "0-1-99999999999999999999"} {
		if _, err := ParseGTID(in); err == nil {
			t.Errorf("ParseGTID(%q) accepted", in)
		}
	}
}
