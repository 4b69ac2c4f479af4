package proxy

import "testing"

func TestSmoke(t *testing.T) {
	e := newEnv(t, 1, nil)
	db := e.db(t, "")
	if got := queryString(t, db, "SELECT 1+1"); got != "2" {
		t.Fatalf("got %q", got)
	}
	mustExec(t, db, "CREATE DATABASE IF NOT EXISTS smoke")
	mustExec(t, db, "CREATE TABLE smoke.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, db, "INSERT INTO smoke.t VALUES (1, 'a'), (2, 'b')")
	if got := queryString(t, db, "SELECT v FROM smoke.t WHERE id = ?", 2); got != "b" {
		t.Fatalf("got %q", got)
	}
}
