package stack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// requirement is one thing the testbed needs and the Debian package providing it.
type requirement struct {
	pkg   string
	found func() bool
}

func haveBinary(name string) func() bool {
	return func() bool {
		if _, err := exec.LookPath(name); err == nil {
			return true
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
			if st, err := os.Stat(filepath.Join(dir, name)); err == nil && !st.IsDir() {
				return true
			}
		}
		return false
	}
}

func haveGlob(pattern string) func() bool {
	return func() bool {
		m, _ := filepath.Glob(pattern)
		return len(m) > 0
	}
}

func requirements(server string) []requirement {
	reqs := []requirement{
		{"nginx", haveBinary("nginx")},
		{"python3-django", haveGlob("/usr/lib/python3/dist-packages/django/__init__.py")},
	}
	switch server {
	case "gunicorn":
		reqs = append(reqs, requirement{"gunicorn", haveGlob("/usr/lib/python3/dist-packages/gunicorn/__init__.py")})
	default:
		reqs = append(reqs,
			requirement{"uwsgi", haveBinary("uwsgi")},
			requirement{"uwsgi-plugin-python3", haveGlob("/usr/lib/uwsgi/plugins/python3*_plugin.so")})
	}
	return reqs
}

// CheckPackages reports whether the Debian packages the testbed needs for server ("uwsgi" or
// "gunicorn") are installed. The error is one line naming the exact command to run, e.g.
//
//	testbed needs Debian packages: missing uwsgi-plugin-python3; run: apt-get install -y uwsgi-plugin-python3
func CheckPackages(server string) error {
	if server != "uwsgi" && server != "gunicorn" {
		return fmt.Errorf("server %q: want uwsgi or gunicorn", server)
	}
	return missingError(requirements(server))
}

func missingError(reqs []requirement) error {
	var missing []string
	for _, r := range reqs {
		if !r.found() {
			missing = append(missing, r.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	list := strings.Join(missing, " ")
	return fmt.Errorf("testbed needs Debian packages: missing %s; run: apt-get install -y %s",
		strings.Join(missing, ", "), list)
}
