package procid

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary a child for these tests: "self" prints
// its Self() as JSON and sleeps; "dead" prints Dead of the ID in
// checkEnv as JSON.
const (
	helperEnv = "PROCID_TEST_HELPER"
	checkEnv  = "PROCID_TEST_ID"
)

// verdict is what a "dead" helper prints.
type verdict struct {
	Dead bool
	Why  string
}

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "self":
		if err := json.NewEncoder(os.Stdout).Encode(Self()); err != nil {
			os.Exit(1)
		}
		time.Sleep(time.Minute)
		os.Exit(0)
	case "dead":
		var id ID
		if err := json.Unmarshal([]byte(os.Getenv(checkEnv)), &id); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		var v verdict
		v.Dead, v.Why = Dead(id)
		if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSelf(t *testing.T) {
	id := Self()
	if id != Self() {
		t.Fatalf("Self() changed: %#v, then %#v", id, Self())
	}
	if id.PID != os.Getpid() || id.Host == "" {
		t.Errorf("Self() = %#v, want pid %d and a host", id, os.Getpid())
	}
	if runtime.GOOS == "linux" {
		if len(id.Boot) != 36 || !strings.HasPrefix(id.PIDNS, "pid:[") || id.Start == 0 {
			t.Errorf("Self() = %#v: boot, pid namespace or start missing", id)
		}
	} else if id.Boot != "" || id.PIDNS != "" || id.TimeNS != "" || id.Start != 0 {
		t.Errorf("Self() = %#v: Linux fields set on %s", id, runtime.GOOS)
	}
	t.Logf("Self() = %#v", id)
}

func TestString(t *testing.T) {
	if got := (ID{Host: "myhost", PID: 1234}).String(); got != "host myhost pid 1234" {
		t.Errorf("String() = %q", got)
	}
	if got := (ID{PID: 1234}).String(); got != "host ? pid 1234" {
		t.Errorf("String() = %q", got)
	}
}

func TestJSON(t *testing.T) {
	id := ID{Host: "h", Boot: "b", PIDNS: "pid:[1]", TimeNS: "time:[2]", PID: 3, Start: 4}
	b, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"host":"h","boot":"b","pidns":"pid:[1]","timens":"time:[2]","pid":3,"start":4}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var back ID
	if err := json.Unmarshal(b, &back); err != nil || back != id {
		t.Errorf("round trip = %#v, %v; want %#v", back, err, id)
	}
}

func TestSelfNotDead(t *testing.T) {
	if dead, why := Dead(Self()); dead {
		t.Errorf("Dead(Self()) = true, %q", why)
	}
}

// TestElsewhereNotDead: an ID recorded on another host, in another boot or
// namespace, or without them, proves nothing, even with a start time that
// here would mean a reused PID.
func TestElsewhereNotDead(t *testing.T) {
	reused := Self()
	reused.Start++
	for name, change := range map[string]func(*ID){
		"other host":           func(id *ID) { id.Host = "elsewhere" },
		"other boot":           func(id *ID) { id.Boot = "00000000-0000-0000-0000-000000000000" },
		"other pid namespace":  func(id *ID) { id.PIDNS = "pid:[1]" },
		"other time namespace": func(id *ID) { id.TimeNS = "time:[1]" },
		"no host":              func(id *ID) { id.Host = "" },
		"no boot":              func(id *ID) { id.Boot = "" },
		"no pid namespace":     func(id *ID) { id.PIDNS = "" },
		"pid 0":                func(id *ID) { id.PID = 0 },
		"pid -1":               func(id *ID) { id.PID = -1 },
	} {
		id := reused
		change(&id)
		if dead, why := Dead(id); dead {
			t.Errorf("%s: Dead(%#v) = true, %q", name, id, why)
		} else {
			t.Logf("%s: %s", name, why)
		}
	}
}
