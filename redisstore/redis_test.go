package redisstore_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server on a free loopback port, run by a
// test and stopped when it ends.
type redisServer struct {
	fail func(format string, args ...any) // t.Fatalf, or log.Fatalf outside a test
	addr string
	dir  string
	mu   sync.Mutex // guards cmd: a test may stop and start the server from a timer
	cmd  *exec.Cmd
}

// startRedis starts a redis-server for t. It fails the test, saying how to
// install one, if there is no redis-server binary.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	r := newRedis(t.TempDir(), t.Fatalf)
	t.Cleanup(r.stop)
	return r
}

// newRedis starts a redis-server keeping its files in dir, and calls fail
// if it cannot, saying how to install one if there is no redis-server.
func newRedis(dir string, fail func(format string, args ...any)) *redisServer {
	if _, err := exec.LookPath("redis-server"); err != nil {
		fail("redis-server is not installed: the redisstore tests run a real one. " +
			"Install it with `apt-get install redis-server` (Debian, Ubuntu) or `brew install redis` (macOS).")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("%v", err)
	}
	addr := l.Addr().String()
	l.Close()
	r := &redisServer{fail: fail, addr: addr, dir: dir}
	r.start()
	return r
}

// start runs the server, on the same port as before if it ran already,
// and waits until it answers.
func (r *redisServer) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.fail("%v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	for start := time.Now(); c.Ping(context.Background()).Err() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.fail("redis-server did not answer on %s:\n%s", r.addr, log)
		}
	}
}

// stop kills the server, as a crash would, and waits for it to go.
func (r *redisServer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// pause stops the server without ending it, as a Redis stuck in a long
// command would be, until resume.
func (r *redisServer) pause()  { r.signal(syscall.SIGSTOP) }
func (r *redisServer) resume() { r.signal(syscall.SIGCONT) }

func (r *redisServer) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}

// client returns a client of the server, closed when t ends.
func (r *redisServer) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// startHungServer accepts connections on loopback and never answers, as a
// Redis stuck in a long command would; it returns its address.
func startHungServer(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}
