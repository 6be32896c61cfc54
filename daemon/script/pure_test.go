package script

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"/bin/a.sh", []string{"/bin/a.sh"}, false},
		{"  /bin/a.sh  x\ty\n", []string{"/bin/a.sh", "x", "y"}, false},
		{`/bin/a "two words" 'single $x' a\ b ""`, []string{"/bin/a", "two words", "single $x", "a b", ""}, false},
		{`a "d \"e\""`, []string{"a", `d "e"`}, false},
		{`'a'"b"c`, []string{"abc"}, false},
		{`'a\'`, []string{`a\`}, false},
		{"/bin/x \xa1\xff", []string{"/bin/x", "\xa1\xff"}, false}, // bytes pass unchanged
		{`"open`, nil, true},
		{`trailing\`, nil, true},
		{"   ", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzSplit(f *testing.F) {
	// Seeds: quoting, escapes, unterminated quote, blanks only.
	f.Add(`a "b c" 'd'`)
	f.Add(`a\ b`)
	f.Add(`"unterminated`)
	f.Add(" \t\n")
	f.Fuzz(func(t *testing.T, s string) {
		args, err := Split(s)
		if err == nil && len(args) == 0 {
			t.Fatalf("Split(%q): no words and no error", s)
		}
		total := 0
		for _, a := range args {
			total += len(a)
		}
		if total > len(s) {
			t.Fatalf("Split(%q) = %q: longer than its input", s, args)
		}
	})
}

func TestTail(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		writes  []string
		want    string
		dropped int64
	}{
		{"empty", 4, nil, "", 0},
		{"fits", 8, []string{"ab", "cd"}, "abcd", 0},
		{"exact", 4, []string{"abcd"}, "abcd", 0},
		{"one big write", 4, []string{"abcdefgh"}, "efgh", 4},
		{"wraps", 4, []string{"abc", "def"}, "cdef", 2},
		{"wraps twice", 4, []string{"abc", "def", "ghi"}, "fghi", 5},
		{"small writes", 3, []string{"a", "b", "c", "d", "e"}, "cde", 2},
		{"big after wrap", 4, []string{"abc", "de", "123456"}, "3456", 7},
		{"zero limit", 0, []string{"abc"}, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := NewTail(tt.limit)
			var total int64
			for _, w := range tt.writes {
				n, err := tl.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
				total += int64(len(w))
			}
			if got := string(tl.Bytes()); got != tt.want || tl.Dropped() != tt.dropped || tl.Total() != total {
				t.Fatalf("kept %q dropped %d total %d; want %q dropped %d total %d", got, tl.Dropped(), tl.Total(), tt.want, tt.dropped, total)
			}
		})
	}
}

func FuzzTail(f *testing.F) {
	// Seeds: writes split at various points against small limits.
	f.Add([]byte("hello world"), uint8(4), uint8(3))
	f.Add([]byte("x"), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, limit, chunk uint8) {
		tl := NewTail(int(limit))
		step := max(int(chunk), 1)
		for i := 0; i < len(data); i += step {
			_, _ = tl.Write(data[i:min(i+step, len(data))])
		}
		want := data[max(len(data)-int(limit), 0):]
		if !bytes.Equal(tl.Bytes(), want) {
			t.Fatalf("kept %q, want %q", tl.Bytes(), want)
		}
	})
}

func TestParseUserSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    UserSpec
		wantErr bool
	}{
		{"nobody", UserSpec{User: "nobody"}, false},
		{"nobody nogroup", UserSpec{User: "nobody", Group: "nogroup"}, false},
		{"nobody :nogroup", UserSpec{User: "nobody", Group: "nogroup", Supplementary: true}, false},
		{"nobody :", UserSpec{User: "nobody", Supplementary: true}, false},
		{"", UserSpec{}, true},
		{"a b c", UserSpec{}, true},
	}
	for _, tt := range tests {
		got, err := ParseUserSpec(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseUserSpec(%q) = %+v, %v; want %+v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// fakeAccounts: root 0/0, nobody 65534/65534 in groups 65534 and 100,
// keepalived_script only when ks is set.
type fakeAccounts struct{ ks bool }

func (a fakeAccounts) LookupUser(name string) (uint32, uint32, error) {
	switch {
	case name == "root":
		return 0, 0, nil
	case name == "nobody":
		return 65534, 65534, nil
	case name == DefaultUserName && a.ks:
		return 900, 900, nil
	}
	return 0, 0, fmt.Errorf("unknown user %s", name)
}

func (fakeAccounts) LookupGroup(name string) (uint32, error) {
	switch name {
	case "root":
		return 0, nil
	case "users":
		return 100, nil
	}
	return 0, fmt.Errorf("unknown group %s", name)
}

func (fakeAccounts) GroupIDs(name string) ([]uint32, error) { return []uint32{65534, 100}, nil }

func TestResolve(t *testing.T) {
	acc := fakeAccounts{}
	tests := []struct {
		spec    UserSpec
		want    Identity
		wantErr bool
	}{
		{UserSpec{User: "nobody"}, Identity{Name: "nobody", UID: 65534, GID: 65534}, false},
		{UserSpec{User: "nobody", Group: "users"}, Identity{Name: "nobody", UID: 65534, GID: 100}, false},
		{UserSpec{User: "nobody", Supplementary: true}, Identity{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534, 100}}, false},
		{UserSpec{User: "ghost"}, Identity{}, true},
		{UserSpec{User: "nobody", Group: "ghosts"}, Identity{}, true},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.spec, acc)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Resolve(%+v) = %+v, %v; want %+v, err %v", tt.spec, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDefaultIdentity(t *testing.T) {
	self := Identity{Name: "root"}
	if id, err := DefaultIdentity(fakeAccounts{ks: true}, self, true); err != nil || id.UID != 900 {
		t.Errorf("with keepalived_script: %+v, %v", id, err)
	}
	if id, err := DefaultIdentity(fakeAccounts{}, self, false); err != nil || id.Name != "root" {
		t.Errorf("without keepalived_script: %+v, %v; want the daemon's own user", id, err)
	}
	if _, err := DefaultIdentity(fakeAccounts{}, self, true); !errors.Is(err, ErrNoDefaultUser) {
		t.Errorf("security without keepalived_script: %v; want ErrNoDefaultUser", err)
	}
}

const (
	dir  = syscall.S_IFDIR
	reg  = syscall.S_IFREG
	link = syscall.S_IFLNK
)

func TestUnsafeReason(t *testing.T) {
	tests := []struct {
		name string
		info FileInfo
		want string // substring; "" means safe
	}{
		{"root file 0755", FileInfo{Mode: reg | 0o755}, ""},
		{"root file 0777", FileInfo{Mode: reg | 0o777}, "writable by everyone (mode 0777)"},
		{"root file group root writable", FileInfo{Mode: reg | 0o775}, ""},
		{"file group-writable by staff", FileInfo{Mode: reg | 0o775, GID: 50}, "writable by group 50"},
		{"file of a user", FileInfo{Mode: reg | 0o755, UID: 1000}, "owned by uid 1000"},
		{"dir 0755", FileInfo{Mode: dir | 0o755}, ""},
		{"dir 0777", FileInfo{Mode: dir | 0o777}, "writable by everyone"},
		{"sticky dir 1777 (/tmp)", FileInfo{Mode: dir | syscall.S_ISVTX | 0o777}, ""},
		{"sticky dir of a user", FileInfo{Mode: dir | syscall.S_ISVTX | 0o777, UID: 1000}, "owned by uid 1000"},
		{"sticky file 1777 stays unsafe", FileInfo{Mode: reg | syscall.S_ISVTX | 0o777}, "writable by everyone"},
		{"root symlink 0777", FileInfo{Mode: link | 0o777}, ""},
		{"symlink of a user", FileInfo{Mode: link | 0o777, UID: 1000}, "owned by uid 1000"},
	}
	for _, tt := range tests {
		got := UnsafeReason(tt.info)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: UnsafeReason = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestComponents(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"/", []string{"/"}},
		{"/x", []string{"/", "/x"}},
		{"/usr/local/lib/x.sh", []string{"/", "/usr", "/usr/local", "/usr/local/lib", "/usr/local/lib/x.sh"}},
		{"//usr/./local/../bin//x", []string{"/", "/usr", "/usr/bin", "/usr/bin/x"}},
		{"rel/x", []string{"/", "/rel", "/rel/x"}},
	}
	for _, tt := range tests {
		if got := Components(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Components(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// fakeSys is a file system of lstat results and symbolic links.
type fakeSys struct {
	files map[string]FileInfo
	links map[string]string // path → absolute target
}

func (f fakeSys) Lstat(p string) (FileInfo, error) {
	p = filepath.Clean(p)
	if p != "/" {
		// Like lstat(2), resolve every element but the last.
		parent, err := f.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return FileInfo{}, err
		}
		p = filepath.Join(parent, filepath.Base(p))
	}
	if i, ok := f.files[p]; ok {
		return i, nil
	}
	return FileInfo{}, fmt.Errorf("lstat %s: %w", p, syscall.ENOENT)
}

func (f fakeSys) EvalSymlinks(p string) (string, error) {
	cur := "/"
	for _, name := range strings.Split(filepath.Clean("/"+p), "/")[1:] {
		if name == "" {
			continue
		}
		cand := filepath.Join(cur, name)
		if t, ok := f.links[cand]; ok {
			cand = t
		}
		if _, ok := f.files[cand]; !ok {
			return "", fmt.Errorf("eval %s: %w", p, syscall.ENOENT)
		}
		cur = cand
	}
	return cur, nil
}

func (f fakeSys) Stat(p string) (FileInfo, error) {
	r, err := f.EvalSymlinks(p)
	if err != nil {
		return FileInfo{}, err
	}
	return f.files[r], nil
}

func baseSys() fakeSys {
	return fakeSys{files: map[string]FileInfo{
		"/":                 {Mode: dir | 0o755},
		"/usr":              {Mode: dir | 0o755},
		"/usr/bin":          {Mode: dir | 0o755},
		"/usr/bin/true":     {Mode: reg | 0o755},
		"/bin":              {Mode: link | 0o777},
		"/etc":              {Mode: dir | 0o755},
		"/etc/ka":           {Mode: dir | 0o755},
		"/etc/ka/ok.sh":     {Mode: reg | 0o755},
		"/etc/ka/ww.sh":     {Mode: reg | 0o777},
		"/etc/ka/noexec.sh": {Mode: reg | 0o644},
		"/etc/ka/user.sh":   {Mode: reg | 0o700, UID: 1000},
		"/etc/ka/suid.sh":   {Mode: reg | syscall.S_ISUID | 0o755, GID: 0},
		"/etc/ka/lnk.sh":    {Mode: link | 0o777},
		"/home":             {Mode: dir | 0o755},
		"/home/u":           {Mode: dir | 0o755, UID: 1000},
		"/home/u/x.sh":      {Mode: reg | 0o755},
		"/tmp":              {Mode: dir | syscall.S_ISVTX | 0o777},
		"/tmp/x.sh":         {Mode: reg | 0o755},
		"/tmp/d":            {Mode: dir | 0o777},
		"/tmp/d/x.sh":       {Mode: reg | 0o755},
	}, links: map[string]string{"/bin": "/usr/bin", "/etc/ka/lnk.sh": "/tmp/d/x.sh"}}
}

func TestInspect(t *testing.T) {
	root := Identity{Name: "root"}
	nobody := Identity{Name: "nobody", UID: 65534, GID: 65534}
	tests := []struct {
		name       string
		argv0      string
		id         Identity
		wantPath   string
		wantUnsafe string // substring
		wantErr    string // substring
	}{
		{"safe root script", "/etc/ka/ok.sh", root, "/etc/ka/ok.sh", "", ""},
		{"world-writable as root", "/etc/ka/ww.sh", root, "/etc/ka/ww.sh", "/etc/ka/ww.sh is writable by everyone", ""},
		{"world-writable as nobody is not checked", "/etc/ka/ww.sh", nobody, "/etc/ka/ww.sh", "", ""},
		{"group root counts as root", "/etc/ka/ww.sh", Identity{UID: 65534, GID: 0}, "/etc/ka/ww.sh", "writable by everyone", ""},
		{"set-uid root file run by nobody", "/etc/ka/suid.sh", nobody, "/etc/ka/suid.sh", "", ""},
		{"user-owned file as root", "/etc/ka/user.sh", root, "/etc/ka/user.sh", "owned by uid 1000", ""},
		{"user-owned directory", "/home/u/x.sh", root, "/home/u/x.sh", "/home/u is owned by uid 1000", ""},
		{"sticky /tmp is fine", "/tmp/x.sh", root, "/tmp/x.sh", "", ""},
		{"world-writable directory", "/tmp/d/x.sh", root, "/tmp/d/x.sh", "/tmp/d is writable by everyone", ""},
		{"symlink to an unsafe target", "/etc/ka/lnk.sh", root, "/tmp/d/x.sh", "/tmp/d is writable by everyone", ""},
		{"bare name found in PATH", "true", root, "/usr/bin/true", "", ""},
		{"through a root symlinked dir", "/bin/true", root, "/usr/bin/true", "", ""},
		{"missing", "/etc/ka/none.sh", root, "", "", "no such file"},
		{"bare name missing", "nonesuch", root, "", "", "not found in"},
		{"not executable", "/etc/ka/noexec.sh", root, "", "", "not executable"},
		{"not executable by nobody", "/etc/ka/user.sh", nobody, "", "", "not executable by nobody"},
		{"a directory", "/etc/ka", root, "", "", "not a regular file"},
		{"relative path is from /", "etc/ka/ok.sh", root, "/etc/ka/ok.sh", "", ""},
	}
	sys := baseSys()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Inspect(tt.argv0, tt.id, sys)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Inspect = %+v, %v; want error ~%q", v, err, tt.wantErr)
				}
				return
			}
			if err != nil || v.Path != tt.wantPath || (tt.wantUnsafe == "") != (v.Unsafe == "") || !strings.Contains(v.Unsafe, tt.wantUnsafe) {
				t.Fatalf("Inspect = %+v, %v; want path %q unsafe ~%q", v, err, tt.wantPath, tt.wantUnsafe)
			}
		})
	}
}

func TestExecutable(t *testing.T) {
	tests := []struct {
		info FileInfo
		id   Identity
		want bool
	}{
		{FileInfo{Mode: reg | 0o001}, Identity{}, true},
		{FileInfo{Mode: reg | 0o644}, Identity{}, false},
		{FileInfo{Mode: reg | 0o700, UID: 5}, Identity{UID: 5, GID: 9}, true},
		{FileInfo{Mode: reg | 0o070, UID: 5}, Identity{UID: 5, GID: 9}, false},
		{FileInfo{Mode: reg | 0o010, GID: 9}, Identity{UID: 6, GID: 9}, true},
		{FileInfo{Mode: reg | 0o010, GID: 8}, Identity{UID: 6, GID: 9, Groups: []uint32{8}}, true},
		{FileInfo{Mode: reg | 0o001, GID: 9}, Identity{UID: 6, GID: 9}, false},
		{FileInfo{Mode: reg | 0o001, GID: 8}, Identity{UID: 6, GID: 9}, true},
	}
	for _, tt := range tests {
		if got := Executable(tt.info, tt.id); got != tt.want {
			t.Errorf("Executable(%o uid %d gid %d, %+v) = %v", tt.info.Mode, tt.info.UID, tt.info.GID, tt.id, got)
		}
	}
}
