package main

import (
	"fmt"
	"strconv"
	"strings"
)

// The versions the Plugin allows, as the injection sets them (go-plugin's own variable).
const envProtocolVersions = "PLUGIN_PROTOCOL_VERSIONS"

// allowedVersions parses PLUGIN_PROTOCOL_VERSIONS ("2,3"); empty means no restriction.
func allowedVersions(raw string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%s=%q: %q is not a positive protocol version (the injection sets it from the Plugin's spec.handshake.protocolVersions)", envProtocolVersions, raw, f)
		}
		out = append(out, v)
	}
	return out, nil
}

// versionMismatch says which version the plugin serves, which its Plugin allows, and what to do.
func versionMismatch(served int, allowed []int) string {
	list := make([]string, len(allowed))
	for i, v := range allowed {
		list[i] = strconv.Itoa(v)
	}
	name := ownPluginName()
	return fmt.Sprintf("plugin %s serves protocol version %d; its Plugin allows %s. Run an image that serves one of them, or add %d to the Plugin's spec.handshake.protocolVersions if the hosts speak it; stopping the plugin",
		name, served, strings.Join(list, ", "), served)
}
