package docker

import (
	"os"
	"os/exec"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/switchyard/switchyard/config"
)

// TestComposeMatchesConfig checks that configs/docker.yaml discovers exactly
// the containers configs/docker-compose.yml starts, and that the compose
// file is valid for docker-compose.
func TestComposeMatchesConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("../configs/docker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Docker.Enabled || cfg.Docker.Label != "switchyard.cluster=shop" || cfg.Docker.Fence != "stop" {
		t.Fatalf("docker section %+v", cfg.Docker)
	}
	b, err := os.ReadFile("../configs/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"services"`
		Networks map[string]struct {
			Name string `yaml:"name"`
		} `yaml:"networks"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	if compose.Networks["shop"].Name != cfg.Docker.Network {
		t.Errorf("compose network %q, config addresses %q", compose.Networks["shop"].Name, cfg.Docker.Network)
	}
	var dbs int
	for name, svc := range compose.Services {
		if svc.Labels[LabelCluster] == "shop" {
			dbs++
			if svc.Labels[LabelName] != name {
				t.Errorf("service %s is labelled %s=%q", name, LabelName, svc.Labels[LabelName])
			}
		}
	}
	if dbs != 3 {
		t.Errorf("%d labelled database services, want 3", dbs)
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Log("docker-compose not installed: compose syntax not checked")
		return
	}
	if out, err := exec.Command("docker-compose", "-f", "../configs/docker-compose.yml", "config", "-q").CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
}
