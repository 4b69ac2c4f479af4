package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// DefaultImage is the local MariaDB image built from the host's mariadbd.
const DefaultImage = "switchyard/mariadb-local:10.11"

// imageFormat changes whenever the layout below changes, so a new layout
// never reuses an image cached by an older one.
const imageFormat = "switchyard-mariadb-local/2"

// imageConfig is the server's option file in the image: the official image's
// container-friendly defaults (all interfaces, no DNS lookups) plus the Debian
// paths of the copied files.
const imageConfig = `[mariadbd]
user=mysql
datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock
pid-file=/run/mysqld/mysqld.pid
lc-messages-dir=/usr/share/mysql
character-sets-dir=/usr/share/mysql/charsets
skip-name-resolve
host-cache-size=0
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
`

// shareFiles are the parts of /usr/share/mysql the server reads: English
// messages and character sets.
var shareFiles = []string{"english", "charsets"}

// systemSQL is what mariadb-install-db feeds to the bootstrap server, minus
// the help tables (2.4 MB of parsing for HELP, which nobody uses in a
// container) and the test database.
var systemSQL = []string{
	"mysql_system_tables.sql", "mysql_performance_tables.sql", "mysql_system_tables_data.sql",
	"maria_add_gis_sp_bootstrap.sql", "mysql_sys_schema.sql",
}

// templatePath is where the image keeps the bootstrapped datadir that the
// entrypoint copies into an empty volume.
const templatePath = "/usr/share/switchyard/datadir"

// EnsureImage makes sure ref names a local MariaDB image built from the
// host's mariadbd (see docker/image/build.sh). The image is tagged with a
// hash of everything that goes into it as well, so a second call with
// unchanged inputs only re-tags (well under a second), and an upgraded
// mariadbd produces a new image. It returns the image ID.
func EnsureImage(ctx context.Context, cli *client.Client, ref string) (string, error) {
	files, err := imageFiles(ctx)
	if err != nil {
		return "", fmt.Errorf("local image %s: %w", ref, err)
	}
	h := sha256.New()
	io.WriteString(h, imageFormat)
	for _, f := range files {
		fmt.Fprintf(h, "\x00%s\x00%o\x00%d\x00", f.path, f.mode, len(f.data))
		h.Write(f.data)
	}
	repo, _, _ := strings.Cut(ref, ":")
	hashRef := repo + ":build-" + hex.EncodeToString(h.Sum(nil))[:16]

	if img, err := cli.ImageInspect(ctx, hashRef); err == nil {
		if err := cli.ImageTag(ctx, img.ID, ref); err != nil {
			return "", fmt.Errorf("tag %s as %s: %w", hashRef, ref, err)
		}
		removeOldBuilds(ctx, cli, repo, hashRef)
		return img.ID, nil
	} else if !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect %s: %w", hashRef, err)
	}

	template, err := bootstrapDatadir(ctx)
	if err != nil {
		return "", fmt.Errorf("local image %s: %w", ref, err)
	}
	files = append(files, template...)
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, files)) }()
	changes := []string{
		`ENTRYPOINT ["/entrypoint"]`,
		`CMD ["mariadbd"]`,
		`EXPOSE 3306`,
		`VOLUME /var/lib/mysql`,
		`LABEL org.opencontainers.image.description="MariaDB from the host's mariadbd, built by Switchyard"`,
	}
	resp, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, hashRef,
		image.ImportOptions{Changes: changes, Message: "switchyard local mariadb"})
	if err != nil {
		pr.CloseWithError(err)
		return "", fmt.Errorf("docker import %s: %w", hashRef, err)
	}
	defer resp.Close()
	if err := readProgress(resp); err != nil {
		return "", fmt.Errorf("docker import %s: %w", hashRef, err)
	}
	img, err := cli.ImageInspect(ctx, hashRef)
	if err != nil {
		return "", fmt.Errorf("inspect imported %s: %w", hashRef, err)
	}
	if err := cli.ImageTag(ctx, img.ID, ref); err != nil {
		return "", fmt.Errorf("tag %s as %s: %w", hashRef, ref, err)
	}
	removeOldBuilds(ctx, cli, repo, hashRef)
	return img.ID, nil
}

// removeOldBuilds untags images built from earlier inputs. Images still used
// by a container stay (the engine refuses to remove them).
func removeOldBuilds(ctx context.Context, cli *client.Client, repo, keep string) {
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", repo+":build-*"))})
	if err != nil {
		return
	}
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if tag != keep && strings.HasPrefix(tag, repo+":build-") {
				_, _ = cli.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
			}
		}
	}
}

// readProgress drains the daemon's JSON progress stream and returns the
// error it reports, if any.
func readProgress(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

type imageFile struct {
	path string // absolute path inside the image
	mode fs.FileMode
	data []byte // nil for directories
	uid  int    // owner inside the image (root unless set)
}

// mysqlUID owns the datadir in the image, as in the official image.
const mysqlUID = 999

// imageFiles collects the root filesystem: mariadbd and the libraries ldd
// resolves for it, the share files, the entrypoint and a minimal /etc.
func imageFiles(ctx context.Context) ([]imageFile, error) {
	server := mariadbdPath()
	libs, err := sharedLibraries(ctx, server)
	if err != nil {
		return nil, err
	}
	var files []imageFile
	add := func(dst, src string, mode fs.FileMode) error {
		b, err := os.ReadFile(src) // follows symlinks: the image holds real files
		if err != nil {
			return err
		}
		files = append(files, imageFile{path: dst, mode: mode, data: b})
		return nil
	}
	if err := add("/usr/sbin/mariadbd", server, 0o755); err != nil {
		return nil, err
	}
	for _, lib := range libs {
		if err := add(lib, lib, 0o755); err != nil {
			return nil, err
		}
	}
	share := filepath.Join(filepath.Dir(server), "..", "share", "mysql")
	for _, name := range shareFiles {
		err := filepath.WalkDir(filepath.Join(share, name), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(share, p)
			return add("/usr/share/mysql/"+filepath.ToSlash(rel), p, 0o644)
		})
		if err != nil {
			return nil, fmt.Errorf("MariaDB share files: %w", err)
		}
	}
	entry, err := buildEntrypoint(ctx)
	if err != nil {
		return nil, err
	}
	files = append(files,
		imageFile{path: "/entrypoint", mode: 0o755, data: entry},
		imageFile{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nmysql:x:999:999:MariaDB:/var/lib/mysql:/sbin/nologin\n")},
		imageFile{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nmysql:x:999:\n")},
		imageFile{path: "/etc/mysql/my.cnf", mode: 0o644, data: []byte(imageConfig)},
		imageFile{path: "/tmp", mode: fs.ModeDir | fs.ModeSticky | 0o777},
		imageFile{path: "/var/lib/mysql", mode: fs.ModeDir | 0o755},
		imageFile{path: "/run/mysqld", mode: fs.ModeDir | 0o755},
		imageFile{path: "/docker-entrypoint-initdb.d", mode: fs.ModeDir | 0o755},
	)
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

// bootstrapDatadir creates the system tables with the host's mariadbd, as
// mariadb-install-db does (in its cross-bootstrap form: no users named after
// the build host), and returns them as image files under templatePath.
// Doing this once per image instead of once per container saves seconds of
// CPU for every container start.
func bootstrapDatadir(ctx context.Context) ([]imageFile, error) {
	server := mariadbdPath()
	share := filepath.Join(filepath.Dir(server), "..", "share", "mysql")
	var sqlText strings.Builder
	sqlText.WriteString("CREATE DATABASE IF NOT EXISTS mysql;\nUSE mysql;\nSET @auth_root_socket=NULL;\n")
	for _, f := range systemSQL {
		b, err := os.ReadFile(filepath.Join(share, f))
		if err != nil {
			return nil, fmt.Errorf("bootstrap SQL: %w", err)
		}
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if !strings.Contains(line, "@current_hostname") {
				sqlText.WriteString(line)
			}
		}
		sqlText.WriteByte('\n')
	}
	tmp, err := os.MkdirTemp("", "switchyard-image-datadir-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	args := []string{"--no-defaults", "--bootstrap", "--datadir=" + data, "--skip-log-bin",
		"--log-warnings=0", "--enforce-storage-engine=", "--max-allowed-packet=8M", "--net-buffer-length=16K",
		"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
		"--tmpdir=" + tmp, "--lc-messages-dir=" + share, "--character-sets-dir=" + filepath.Join(share, "charsets")}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.CommandContext(ctx, server, args...)
	cmd.Stdin = strings.NewReader(sqlText.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s --bootstrap: %w\n%s", server, err, out)
	}
	var files []imageFile
	err = filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(data, p)
		dst := templatePath + "/" + filepath.ToSlash(rel)
		if rel == "." {
			dst = templatePath
		}
		if d.IsDir() {
			files = append(files, imageFile{path: dst, mode: fs.ModeDir | 0o700, uid: mysqlUID})
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, imageFile{path: dst, mode: 0o660, data: b, uid: mysqlUID})
		return nil
	})
	return files, err
}

func mariadbdPath() string {
	if p, err := exec.LookPath("mariadbd"); err == nil {
		return p
	}
	return "/usr/sbin/mariadbd"
}

// sharedLibraries lists the absolute paths ldd prints for bin, including the
// dynamic loader.
func sharedLibraries(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)"; vdso has no path.
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if strings.HasPrefix(f, "/") && (i == 0 || fields[i-1] == "=>") {
				libs = append(libs, f)
			}
		}
		if strings.Contains(sc.Text(), "not found") {
			return nil, fmt.Errorf("ldd %s: %s", bin, strings.TrimSpace(sc.Text()))
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s: no libraries found (is it a dynamic executable?)", bin)
	}
	return libs, nil
}

// buildEntrypoint compiles docker/image/entrypoint as a static Linux binary.
// It needs the Go toolchain and this source tree, which is why the image is
// built from a checkout (docker/image/build.sh, the tests, or the CLI run
// from the repository).
func buildEntrypoint(ctx context.Context) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "switchyard-entrypoint-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "entrypoint")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out,
		"github.com/switchyard/switchyard/docker/image/entrypoint")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if _, src, _, ok := runtime.Caller(0); ok {
		if _, err := os.Stat(src); err == nil {
			cmd.Dir = filepath.Dir(src)
		}
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the image entrypoint (needs Go and the Switchyard source tree): %w\n%s", err, b)
	}
	return os.ReadFile(out)
}

// writeTar writes files as a root filesystem, with the parent directories
// each path needs.
func writeTar(w io.Writer, files []imageFile) error {
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	dirs := map[string]bool{"/": true}
	var mkdirs func(dir string) error
	mkdirs = func(dir string) error {
		if dirs[dir] {
			return nil
		}
		if err := mkdirs(filepath.Dir(dir)); err != nil {
			return err
		}
		dirs[dir] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: 0o755, ModTime: now})
	}
	for _, f := range files {
		if err := mkdirs(filepath.Dir(f.path)); err != nil {
			return err
		}
		name := strings.TrimPrefix(f.path, "/")
		if f.mode.IsDir() {
			dirs[f.path] = true
			mode := int64(f.mode.Perm())
			if f.mode&fs.ModeSticky != 0 {
				mode |= 0o1000
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: now, Uid: f.uid, Gid: f.uid}); err != nil {
				return err
			}
			continue
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(f.mode.Perm()), Size: int64(len(f.data)), ModTime: now, Uid: f.uid, Gid: f.uid}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}
