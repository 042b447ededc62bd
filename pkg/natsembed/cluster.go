package natsembed

import (
	"context"
	"fmt"
	"net"
	"time"
)

// ClusterConfigs returns the configurations of a JetStream cluster of
// len(storeDirs) nodes on loopback ports, one store directory each, for
// tests that start the nodes one at a time.
func ClusterConfigs(storeDirs []string) ([]Config, error) {
	ports := make([]int, len(storeDirs))
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	cfgs := make([]Config, len(storeDirs))
	for i, dir := range storeDirs {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		cfgs[i] = Config{StoreDir: dir, Cluster: &Cluster{
			Name: "h402-test", ServerName: fmt.Sprintf("n%d", i), Port: ports[i], Routes: routes,
		}}
	}
	return cfgs, nil
}

// StartCluster starts a JetStream cluster of len(storeDirs) nodes on
// loopback ports in this process, one store directory each, and returns
// once JetStream answers (a meta leader is elected, within 30 s). It is for
// tests: replicated streams answer some errors differently from a single
// server.
func StartCluster(storeDirs []string) ([]*Server, error) {
	cfgs, err := ClusterConfigs(storeDirs)
	if err != nil {
		return nil, err
	}
	var servers []*Server
	closeAll := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	for i, cfg := range cfgs {
		s, err := Start(cfg)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("cluster node %d: %w", i, err)
		}
		servers = append(servers, s)
	}
	if err := WaitJetStream(servers[0], 30*time.Second); err != nil {
		closeAll()
		return nil, err
	}
	return servers, nil
}

// WaitJetStream returns once JetStream answers on s (in a cluster: a meta
// leader is elected), or an error after timeout.
func WaitJetStream(s *Server, timeout time.Duration) error {
	nc, js, err := s.JetStream()
	if err != nil {
		return err
	}
	defer nc.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("JetStream not ready within %s: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // polling the server's own readiness answer
	}
}
