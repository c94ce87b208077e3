// file.h: reading a small file whole (a certificate, a key, a token, a
// configuration file) with a bound on its size.
#ifndef SF_FILE_H
#define SF_FILE_H

#include <stddef.h>

// sf_file_read reads path whole into a malloc'd, NUL-terminated buffer
// (the caller frees it) and stores its length in *len when len is not
// NULL. Returns NULL with errno set when the file cannot be opened or read
// (EFBIG when it holds more than max bytes, ENOMEM out of memory). Memory
// it gives back on the way is wiped first: the file may be a key.
char *sf_file_read(const char *path, size_t max, size_t *len);

#endif // SF_FILE_H
