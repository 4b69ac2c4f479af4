package sandbox

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestCopyFileSparse(t *testing.T) {
	dir := t.TempDir()
	// Zero and data runs that straddle block and buffer boundaries, a file
	// ending in a hole, an empty file and a short one.
	var data []byte
	data = append(data, make([]byte, 3*block+17)...)
	data = append(data, bytes.Repeat([]byte("x"), 2*block-5)...)
	data = append(data, make([]byte, 1<<20)...)
	r := rand.New(rand.NewPCG(1, 2))
	for range block * 3 {
		data = append(data, byte(r.IntN(256)))
	}
	data = append(data, make([]byte, 5*block)...)
	for name, content := range map[string][]byte{"mixed": data, "empty": nil, "short": []byte("abc")} {
		src, dst := filepath.Join(dir, name), filepath.Join(dir, name+".copy")
		if err := os.WriteFile(src, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, dst); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s: copy differs (len %d, want %d)", name, len(got), len(content))
		}
	}
	if err := copyFile(filepath.Join(dir, "short"), filepath.Join(dir, "short.copy")); err == nil {
		t.Error("copyFile overwrote an existing file")
	}
}
