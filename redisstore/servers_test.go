package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// node is a redis-server process of a Redis Cluster or a Sentinel setup,
// run by a test in a directory of its own and killed when the test ends.
type node struct {
	addr string
	dir  string
	cmd  *exec.Cmd
}

// freePort returns a loopback port that nothing listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNode runs redis-server on a free loopback port with the config
// lines given, and args after its config file (--sentinel for a
// sentinel), and waits until it answers PING.
func startNode(t *testing.T, config []string, args ...string) *node {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: the redisstore tests run a real one. " +
			"Install it with `apt-get install redis-server` (Debian, Ubuntu) or `brew install redis` (macOS).")
	}
	n := &node{dir: t.TempDir()}
	port := freePort(t)
	n.addr = fmt.Sprintf("127.0.0.1:%d", port)
	conf := filepath.Join(n.dir, "redis.conf")
	lines := append([]string{fmt.Sprintf("port %d", port), "bind 127.0.0.1", "dir " + n.dir,
		"logfile " + filepath.Join(n.dir, "redis.log")}, config...)
	require.NoError(t, os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	n.cmd = exec.Command("redis-server", append([]string{conf}, args...)...)
	require.NoError(t, n.cmd.Start())
	t.Cleanup(n.kill)
	c := redis.NewClient(&redis.Options{Addr: n.addr})
	defer c.Close()
	n.await(t, "PING", func() bool { return c.Ping(context.Background()).Err() == nil })
	return n
}

// kill kills the server, as a crash would, and waits for it to go.
func (n *node) kill() {
	if n.cmd.Process != nil && n.cmd.ProcessState == nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
}

// await polls cond until it holds, for 20s at most, and otherwise fails
// the test with the server's log.
func (n *node) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			log, _ := os.ReadFile(filepath.Join(n.dir, "redis.log"))
			t.Fatalf("%s on %s: not in 20s; its log:\n%s", what, n.addr, log)
		}
	}
}

// startCluster starts a Redis Cluster of three primaries without
// replicas, and returns their addresses once every node sees all slots
// served.
func startCluster(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli is not installed: install it with `apt-get install redis-tools` (Debian, Ubuntu).")
	}
	var nodes []*node
	var addrs []string
	for range 3 {
		n := startNode(t, []string{"save \"\"", "appendonly no", "cluster-enabled yes",
			"cluster-config-file nodes.conf", "cluster-node-timeout 2000",
			fmt.Sprintf("cluster-port %d", freePort(t))}) // the default, port+10000, may not be free
		nodes, addrs = append(nodes, n), append(addrs, n.addr)
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.addr})
		n.await(t, "cluster_state:ok", func() bool {
			info, err := c.ClusterInfo(context.Background()).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3")
		})
		c.Close()
	}
	return addrs
}

// sentinelSetup is a primary, its replica, and a sentinel that watches
// them as "tokens".
type sentinelSetup struct {
	primary, replica, sentinel *node
}

// startSentinel starts a primary, a replica and a sentinel that deems the
// primary down after 500ms without an answer, and returns them once the
// replica is in sync and the sentinel knows it.
func startSentinel(t *testing.T) *sentinelSetup {
	t.Helper()
	base := []string{"save \"\"", "appendonly no"}
	s := &sentinelSetup{primary: startNode(t, base)}
	host, port, _ := net.SplitHostPort(s.primary.addr)
	s.replica = startNode(t, append(base, "replicaof "+host+" "+port))
	s.sentinel = startNode(t, []string{"sentinel monitor tokens " + host + " " + port + " 1",
		"sentinel down-after-milliseconds tokens 500", "sentinel failover-timeout tokens 10000"}, "--sentinel")

	rc := redis.NewClient(&redis.Options{Addr: s.replica.addr})
	defer rc.Close()
	s.replica.await(t, "master_link_status:up", func() bool {
		info, err := rc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.sentinel.addr})
	defer sc.Close()
	s.sentinel.await(t, "the sentinel knows the replica", func() bool {
		replicas, err := sc.Replicas(context.Background(), "tokens").Result()
		if err != nil || len(replicas) != 1 {
			return false
		}
		flags := fmt.Sprint(replicas[0]["flags"])
		return replicas[0]["port"] == strings.TrimPrefix(s.replica.addr, "127.0.0.1:") && !strings.Contains(flags, "down") &&
			!strings.Contains(flags, "disconnected")
	})
	return s
}

// primaryAddr returns the address the sentinel gives for the primary.
func (s *sentinelSetup) primaryAddr() string {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.sentinel.addr})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(context.Background(), "tokens").Result()
	if err != nil || len(addr) != 2 {
		return ""
	}
	return net.JoinHostPort(addr[0], addr[1])
}
