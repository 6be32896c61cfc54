package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/drlb/drlb/topology"
)

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, name, root := newFlags("up", "[--name LAB] [--topology seed|FILE]", stderr)
	topo := fs.String("topology", "seed", "built-in topology name or a spec file (see `drlab topology`)")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) > 0 {
		fmt.Fprintf(stderr, "drlab up: unexpected argument %q\n", p.args[0])
		return 2
	}
	spec, err := topology.LoadSpec(*topo)
	if err != nil {
		fmt.Fprintf(stderr, "drlab up: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "building lab %s from topology %s\n", *name, spec.Name)
	lab, err := topology.Up(ctx, topology.Options{
		Name: *name, Spec: spec, StateRoot: *root,
		Progress: func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) },
	})
	if err != nil {
		fmt.Fprintf(stderr, "drlab up: %v\n", err)
		return 1
	}
	st, err := lab.Status()
	if err != nil {
		fmt.Fprintf(stderr, "drlab up: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout)
	st.WriteText(stdout)
	fmt.Fprintf(stdout, "\ntry: drlab exec --name %s client -- curl -s http://%s%s\n", *name, lab.Addr("rs1"), "/data")
	fmt.Fprintf(stdout, "     ip netns exec %s ip addr\n", lab.NSName("lb1"))
	fmt.Fprintf(stdout, "done: drlab down --name %s\n", *name)
	return 0
}

func cmdDown(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, name, root := newFlags("down", "[--name LAB | --all]", stderr)
	all := fs.Bool("all", false, "remove every lab (all state under --state-root and all LAB-HOST namespaces)")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) > 0 {
		fmt.Fprintf(stderr, "drlab down: unexpected argument %q\n", p.args[0])
		return 2
	}
	names := []string{*name}
	if *all {
		var err error
		if names, err = topology.List(*root); err != nil {
			fmt.Fprintf(stderr, "drlab down: %v\n", err)
			return 1
		}
		if len(names) == 0 {
			fmt.Fprintln(stdout, "no labs")
			return 0
		}
	}
	rc := 0
	for _, n := range names {
		start := time.Now()
		rep, err := topology.Down(ctx, n, *root)
		for _, s := range rep.Strays {
			fmt.Fprintf(stderr, "drlab down: warning: %s was not started by the lab and was left running\n", s)
		}
		switch {
		case errors.Is(err, topology.ErrNoLab) && !*all:
			fmt.Fprintf(stderr, "drlab down: %v\n", err)
			rc = 1
		case err != nil:
			fmt.Fprintf(stderr, "drlab down: lab %s: %v\n", n, err)
			rc = 1
		default:
			fmt.Fprintf(stdout, "lab %s down in %v: %d processes ended, %d namespaces removed\n",
				n, time.Since(start).Round(time.Millisecond), rep.Processes, rep.Namespaces)
		}
	}
	return rc
}

func cmdStatus(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs, name, root := newFlags("status", "[--name LAB] [--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) > 0 {
		fmt.Fprintf(stderr, "drlab status: unexpected argument %q\n", p.args[0])
		return 2
	}
	lab, err := topology.Open(*name, *root)
	if err != nil {
		fmt.Fprintf(stderr, "drlab status: %v\n", err)
		return 1
	}
	st, err := lab.Status()
	if err != nil {
		fmt.Fprintf(stderr, "drlab status: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			fmt.Fprintf(stderr, "drlab status: %v\n", err)
			return 1
		}
		return 0
	}
	st.WriteText(stdout)
	return 0
}

func cmdExec(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs, name, root := newFlags("exec", "[--name LAB] HOST -- COMMAND [ARGS...]", stderr)
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) != 1 || len(p.command) == 0 {
		fs.Usage()
		return 2
	}
	lab, err := topology.Open(*name, *root)
	if err != nil {
		fmt.Fprintf(stderr, "drlab exec: %v\n", err)
		return 1
	}
	path, err := lookPath(lab, p.command[0])
	if err != nil {
		fmt.Fprintf(stderr, "drlab exec: %v\n", err)
		return 127
	}
	cmd := exec.Command(path, p.command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if err := lab.StartCmd(p.args[0], cmd); err != nil {
		fmt.Fprintf(stderr, "drlab exec: %v\n", err)
		return 1
	}
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() >= 0 {
				return exit.ExitCode()
			}
			return 128 + 9 // killed by a signal
		}
		fmt.Fprintf(stderr, "drlab exec: %v\n", err)
		return 1
	}
	return 0
}

// lookPath resolves a command with the lab's PATH (drlab's own directory first,
// so `drlab exec lb1 -- drlb status` finds the drlb built beside drlab).
func lookPath(lab *topology.Lab, name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, kv := range lab.Env("") {
		if dirs, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range filepath.SplitList(dirs) {
				candidate := filepath.Join(dir, name)
				if fi, err := os.Stat(candidate); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return candidate, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}

func cmdLogs(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs, name, root := newFlags("logs", "[--name LAB] HOST [PROCESS]", stderr)
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) < 1 || len(p.args) > 2 {
		fs.Usage()
		return 2
	}
	lab, err := topology.Open(*name, *root)
	if err != nil {
		fmt.Fprintf(stderr, "drlab logs: %v\n", err)
		return 1
	}
	host := p.args[0]
	if lab.Spec().Host(host) == nil {
		fmt.Fprintf(stderr, "drlab logs: lab %s has no host %q (hosts: %s)\n", *name, host, strings.Join(lab.Spec().HostNames(), ", "))
		return 1
	}
	files, _ := filepath.Glob(filepath.Join(lab.Dir(), "logs", host, "*.log"))
	sort.Strings(files)
	if len(p.args) == 2 {
		files = []string{filepath.Join(lab.Dir(), "logs", host, p.args[1]+".log")}
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "drlab logs: no processes have run in %s yet\n", host)
		return 1
	}
	for _, f := range files {
		if len(files) > 1 {
			fmt.Fprintf(stdout, "==> %s <==\n", f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "drlab logs: %v\n", err)
			return 1
		}
		stdout.Write(data)
	}
	return 0
}

func cmdPage(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs, name, root := newFlags("page", "[--name LAB] set HOST PATH CONTENT | reset HOST PATH", stderr)
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) < 3 || (p.args[0] == "set") != (len(p.args) == 4) || (p.args[0] != "set" && p.args[0] != "reset") {
		fs.Usage()
		return 2
	}
	lab, err := topology.Open(*name, *root)
	if err != nil {
		fmt.Fprintf(stderr, "drlab page: %v\n", err)
		return 1
	}
	host, path := p.args[1], p.args[2]
	if p.args[0] == "set" {
		err = lab.SetPage(host, path, p.args[3])
	} else {
		err = lab.ResetPage(host, path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "drlab page: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s %s\n", host, path, map[string]string{"set": "changed", "reset": "restored"}[p.args[0]])
	return 0
}

func cmdTopology(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 || (len(args) == 1 && args[0] != "seed") {
		fmt.Fprintln(stderr, "usage: drlab topology [seed]   (prints the built-in spec; save it, edit it, use `drlab up --topology FILE`)")
		return 2
	}
	stdout.Write(topology.SeedYAML())
	return 0
}

func cmdServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs, _, _ := newFlags("serve", "--host HOST --root DIR [--listen ADDR]", stderr)
	host := fs.String("host", "", "host name sent in X-Real-Server and /data")
	dir := fs.String("root", "", "document root")
	listen := fs.String("listen", ":80", "listen address")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if *host == "" || *dir == "" || len(p.args) > 0 {
		fs.Usage()
		return 2
	}
	fmt.Fprintf(stderr, "drlab serve: %s serving %s on %s\n", *host, *dir, *listen)
	if err := topology.Serve(ctx, *host, *dir, *listen); err != nil {
		fmt.Fprintf(stderr, "drlab serve: %v\n", err)
		return 1
	}
	return 0
}
