// secrets.h: the key that seals cluster credentials at rest — its file
// (--secret-key-file), and the offline rotation command
// `svcfleetd rotate-secret-key`. The sealing itself is the store's
// (store/lmdb_secrets.c); this is where the key comes from.
#ifndef SF_SERVER_SECRETS_H
#define SF_SERVER_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "store.h"

// The key file holds the 32-byte key in base64 on one line (as Kubernetes'
// EncryptionConfiguration secrets do), e.g. from
//   head -c 32 /dev/urandom | base64 > key; chmod 600 key
#define SF_SECRET_KEY_FILE_DEFAULT "secret.key" // inside the data directory

// sf_secret_key_path returns the key file to use: path when set, else
// DATA-DIR/secret.key. The result is malloc'd.
char *sf_secret_key_path(const char *path, const char *data_dir);

// sf_secret_key_load reads the key from path. When the file does not
// exist and create is true, a new random key is written there first (mode
// 0600, created exclusively, synced; missing parent directories are made
// with mode 0700) and *created is set. Errors name the file: NOT_FOUND,
// INVALID_ARGUMENT (not 32 bytes of base64), PERMISSION_DENIED, ...
int sf_secret_key_load(const char *path, bool create,
    uint8_t key[SF_STORE_SECRET_KEY_LEN], bool *created, sf_status *st);

// sf_secrets_rotate_main runs `svcfleetd rotate-secret-key` (argv[0] is
// "rotate-secret-key"); returns the process exit code.
int sf_secrets_rotate_main(int argc, char **argv);

#endif // SF_SERVER_SECRETS_H
