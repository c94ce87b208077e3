// backup.h: svcfleetd's backup and restore subcommands.
//
//   svcfleetd backup  --data-dir DIR --out FILE|-    online, consistent,
//                                                     compacted copy
//   svcfleetd restore --in FILE|- --data-dir DIR [--force]
//
// Backup opens the store's LMDB environment read-only, beside a running
// svcfleetd or without one, and copies one read snapshot with
// mdb_env_copyfd2(MDB_CP_COMPACT): every write committed before the copy
// began is in it, none half-done. It does not take the daemon's
// store.lock (that lock keeps two daemons apart, not readers), so no RPC
// and no token are needed; it must run as the daemon's user on the
// daemon's host (LMDB records readers in DIR/lock.mdb). Restore validates
// the file as a store of a schema this svcfleetd understands, then puts it
// in place in a directory no svcfleetd is using.
#ifndef SF_BACKUP_H
#define SF_BACKUP_H

// sf_backup_main runs "backup" or "restore" (argv[0]) with its flags.
// Returns the process exit code: 0, 1 (failed) or 2 (usage).
int sf_backup_main(int argc, char **argv);

#endif // SF_BACKUP_H
