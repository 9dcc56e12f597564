package profiles

import (
	"embed"
	"sort"
	"strings"
)

// The shipped profiles, each a pattern from the field reports. Each file
// opens with a comment saying what it reproduces and why it is shaped so;
// Shipped reads that comment back, so the text lives in one place.
//
//go:embed shipped/*.yaml
var shippedFS embed.FS

// ShippedInfo describes a shipped profile.
type ShippedInfo struct {
	Name, Description string
	// Reproduces is the file's opening comment: the field report it
	// reproduces and how it is sized for the testbed.
	Reproduces string
}

// Shipped lists the shipped profiles by name.
func Shipped() []ShippedInfo {
	var out []ShippedInfo
	for _, name := range shippedNames() {
		src, _ := ShippedSource(name)
		info := ShippedInfo{Name: name, Reproduces: headerComment(src)}
		if p, err := Parse("shipped:"+name, src, ""); err == nil {
			info.Description = p.Description
		}
		out = append(out, info)
	}
	return out
}

// ShippedSource is the YAML text of a shipped profile.
func ShippedSource(name string) ([]byte, bool) {
	if strings.ContainsAny(name, `/\`) {
		return nil, false
	}
	b, err := shippedFS.ReadFile("shipped/" + name + ".yaml")
	return b, err == nil
}

func shippedNames() []string {
	entries, _ := shippedFS.ReadDir("shipped")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// headerComment is the comment block a file opens with, without the "#".
func headerComment(src []byte) string {
	var lines []string
	for _, l := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "#") {
			break
		}
		lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(t, "#"), " "))
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
