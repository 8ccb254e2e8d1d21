package peer

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/hashicorp/go-plugin"
)

// ParseReattach reads one ReattachConfig in the JSON shape Terraform uses
// for TF_REATTACH_PROVIDERS entries (Addr as {"Network", "String"}), which
// podplug's reattachConfig() also writes. Unknown fields (podplug's
// StartTime) are ignored, as Terraform's decoder does.
func ParseReattach(text string) (*plugin.ReattachConfig, error) {
	var c struct {
		Protocol        string
		ProtocolVersion int
		Pid             int
		Test            bool
		Addr            struct{ Network, String string }
	}
	if err := json.Unmarshal([]byte(text), &c); err != nil {
		return nil, fmt.Errorf("reattach config: %w", err)
	}
	var addr net.Addr
	switch c.Addr.Network {
	case "unix":
		addr = &net.UnixAddr{Net: "unix", Name: c.Addr.String}
	default:
		return nil, fmt.Errorf("reattach config: network %q is not unix", c.Addr.Network)
	}
	return &plugin.ReattachConfig{
		Protocol:        plugin.Protocol(c.Protocol),
		ProtocolVersion: c.ProtocolVersion,
		Addr:            addr,
		Pid:             c.Pid,
		Test:            c.Test,
	}, nil
}
