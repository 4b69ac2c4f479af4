package sandbox

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/switchyard/switchyard/config"
)

// configs/sandbox.yaml documents what `sandbox up` writes; keep them equal.
func TestGeneratedConfigMatchesExample(t *testing.T) {
	s, err := newSandbox(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	listen := config.Listen{App: "127.0.0.1:6033", Admin: "127.0.0.1:6032", Metrics: "127.0.0.1:9104"}
	if err := s.WriteConfig(path, listen); err != nil {
		t.Fatal(err)
	}
	generated, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	example, err := config.Load("../configs/sandbox.yaml")
	if err != nil {
		t.Fatal(err)
	}
	generated.Path, example.Path = "", ""
	if !reflect.DeepEqual(generated, example) {
		t.Fatalf("configs/sandbox.yaml differs from what sandbox up writes:\n%+v\n%+v", example, generated)
	}
	if err := s.Config().Validate(); err != nil {
		t.Fatalf("Config() is invalid: %v", err)
	}
}
