package bench

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// Machine describes the machine and toolchain in one line: CPU model,
// cores, memory, OS, Go version, and the versions of the modules named
// (as found in the build info; e.g. "github.com/apache/beam/sdks/v2").
func Machine(modules ...string) string {
	var parts []string
	cpu := cpuInfoModel()
	if cpu == "" {
		cpu = runtime.GOARCH + " CPU"
	}
	parts = append(parts, fmt.Sprintf("%s, %d cores (GOMAXPROCS %d)", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	if m := memTotal(); m > 0 {
		parts = append(parts, fmt.Sprintf("%.0f GiB", float64(m)/(1<<30)))
	}
	osName := runtime.GOOS
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		osName += " " + strings.TrimSpace(string(rel))
	}
	parts = append(parts, osName, runtime.Version())
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, want := range modules {
			for _, d := range bi.Deps {
				if d.Path == want {
					v := d.Version
					if d.Replace != nil {
						v = d.Replace.Version
					}
					parts = append(parts, fmt.Sprintf("%s %s", shortModule(want), v))
				}
			}
		}
	}
	return strings.Join(parts, ", ")
}

func shortModule(path string) string {
	switch {
	case strings.HasPrefix(path, "github.com/apache/beam/"):
		return "Beam"
	case strings.HasPrefix(path, "github.com/aws/aws-sdk-go-v2/service/"):
		return "aws-sdk-go-v2/service/" + path[strings.LastIndex(path, "/")+1:]
	case path == "github.com/aws/aws-sdk-go-v2":
		return "aws-sdk-go-v2"
	}
	return path
}
