package emulators

import (
	"fmt"
	"net"
)

// kinesaliteDefaultPort is kinesalite's default port, which clashes with
// kinesis-mock's default TLS port; it is never handed out.
const kinesaliteDefaultPort = 4567

// freePorts returns n distinct TCP ports that were free on 127.0.0.1. All n
// listeners are held open together so that the ports differ; another
// process may still take a port between this call and the emulator binding
// it, which Start handles by retrying.
func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		if len(listeners) > n+4 {
			return nil, fmt.Errorf("emulators: could not find %d free loopback ports", n)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("emulators: find a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		port := l.Addr().(*net.TCPAddr).Port
		if port == kinesaliteDefaultPort {
			continue
		}
		ports = append(ports, port)
	}
	return ports, nil
}
