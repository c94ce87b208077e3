// kf_tls.h: serving certificates and the kubeconfig.
#ifndef KF_TLS_H
#define KF_TLS_H

// PEM texts, malloc'd.
typedef struct kf_tls {
	char *t_ca;
	char *t_cert;
	char *t_key;
} kf_tls;

// kf_tls_setup loads cert_file/key_file (and ca_file, else the cert) when
// given; else reuses ca.crt/tls.crt/tls.key in state_dir when present;
// else generates an ECDSA P-256 CA and a server certificate for host,
// 127.0.0.1 and localhost (saved in state_dir when set). Returns 0 or -1.
int  kf_tls_setup(kf_tls *t, const char *state_dir, const char *cert_file,
     const char *key_file, const char *ca_file, const char *host);
void kf_tls_fini(kf_tls *t);

// kf_kubeconfig_write writes a kubeconfig (mode 0600, atomically) with
// one cluster, context and user named "kubefake".
int kf_kubeconfig_write(
    const char *path, const char *url, const char *ca_pem, const char *token);

#endif // KF_TLS_H
