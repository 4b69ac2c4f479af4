package docker

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/switchyard/switchyard/config"
)

// TestServerFromLabels covers the label and addressing rules that the
// integration tests do not reach: published ports, defaults, bad labels.
func TestServerFromLabels(t *testing.T) {
	onNet := &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{"shop": {IPAddress: "10.0.0.5"}}}
	for _, tc := range []struct {
		name    string
		network string
		c       container.Summary
		want    config.Server
		err     string
	}{
		{name: "labels", network: "shop", c: container.Summary{Names: []string{"/x"}, NetworkSettings: onNet,
			Labels: map[string]string{LabelName: "db7", LabelDatacenter: "dc2", LabelPromotion: "never", LabelWeight: "0", LabelPort: "3307"}},
			want: config.Server{Name: "db7", Address: "10.0.0.5:3307", Datacenter: "dc2", Promotion: "never", Weight: 0}},
		{name: "defaults from container name", network: "shop", c: container.Summary{Names: []string{"/shop-db1"}, NetworkSettings: onNet},
			want: config.Server{Name: "shop-db1", Address: "10.0.0.5:3306", Promotion: "neutral", Weight: 100}},
		{name: "published port", c: container.Summary{Names: []string{"/db1"},
			Ports: []container.Port{{PrivatePort: 3306, PublicPort: 43306, Type: "udp"}, {IP: "0.0.0.0", PrivatePort: 3306, PublicPort: 33306, Type: "tcp"}}},
			want: config.Server{Name: "db1", Address: "127.0.0.1:33306", Promotion: "neutral", Weight: 100}},
		{name: "not on the network", network: "other", c: container.Summary{Names: []string{"/db1"}, NetworkSettings: onNet},
			err: "not attached to network other"},
		{name: "port not published", c: container.Summary{Names: []string{"/db1"}}, err: "port 3306 is not published"},
		{name: "bad promotion", network: "shop", c: container.Summary{NetworkSettings: onNet, Labels: map[string]string{LabelPromotion: "always"}},
			err: "is not one of prefer|neutral|never"},
		{name: "bad weight", network: "shop", c: container.Summary{NetworkSettings: onNet, Labels: map[string]string{LabelWeight: "-1"}},
			err: "is not a weight"},
		{name: "bad port", network: "shop", c: container.Summary{NetworkSettings: onNet, Labels: map[string]string{LabelPort: "http"}},
			err: "is not a port"},
	} {
		d := &Discovery{cfg: config.Docker{Network: tc.network, Port: 3306}}
		got, err := d.server(tc.c)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestDiff(t *testing.T) {
	a := config.Server{Name: "db1", Address: "10.0.0.1:3306"}
	b := config.Server{Name: "db2", Address: "10.0.0.2:3306"}
	moved := config.Server{Name: "db2", Address: "10.0.0.9:3306"}
	c := config.Server{Name: "db3", Address: "10.0.0.3:3306"}
	added, removed := diff(map[string]config.Server{"db1": a, "db2": b}, map[string]config.Server{"db2": moved, "db3": c})
	if len(added) != 2 || added[0] != moved || added[1] != c {
		t.Errorf("added %+v", added)
	}
	if len(removed) != 2 || removed[0] != a || removed[1] != b {
		t.Errorf("removed %+v", removed)
	}
}
