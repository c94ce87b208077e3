// kf_svc.h: what the files of kubefake's Service registry share —
// strategy and update rules (kf_service.c), validation (kf_svc_validate.c)
// and allocation (kf_svc_alloc.c). Not used elsewhere.
#ifndef KF_SVC_H
#define KF_SVC_H

#include "kf.h"

#define MSG_DNS1123_SUBDOMAIN                                               \
	"a lowercase RFC 1123 subdomain must consist of lower case "        \
	"alphanumeric characters, '-' or '.', and must start and end with " \
	"an "                                                               \
	"alphanumeric character (e.g. 'example.com', regex used for "       \
	"validation is "                                                    \
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

// Allocations made by one write, rolled back unless it commits.
typedef struct txn {
	long     t_ip;         // newly allocated IP offset, -1 none
	uint32_t t_ports[128]; // newly allocated node-port offsets
	int      t_nports;
	long     t_release_ip; // IP offset to release on commit, -1 none
	uint32_t t_release[128];
	int      t_nrelease;
} txn;

// ---- kf_service.c ----
const char *kf__stype(json_t *svc);
bool        kf__is_type(json_t *svc, const char *t);
bool        kf__is_headless(json_t *svc);
bool        kf__needs_cluster_ip(json_t *svc);
bool        kf__alloc_lb_nodeports(json_t *svc);
bool        kf__needs_node_port(json_t *svc);
bool        kf__externally_accessible(json_t *svc);
bool        kf__needs_hc_node_port(json_t *svc);
long long   kf__jint(json_t *o, const char *key);
json_t     *kf__ports(json_t *svc);
char       *kf__go_strings(json_t *arr);
bool        kf__is_ipv6(const char *s);
bool        kf__same_json(json_t *a, json_t *b);

// ---- kf_svc_validate.c ----
void kf__validate_cluster_ips(json_t *svc, kf_errs *e);
void kf__validate_service(json_t *svc, kf_errs *e);
void kf__validate_update(json_t *svc, json_t *old, kf_errs *e);

// ---- kf_svc_alloc.c ----
void kf__txn_init(txn *t);
void kf__txn_rollback(txn *t);
void kf__txn_commit(txn *t);
long kf__ip_offset(const char *ip);
int  kf__alloc_cluster_ip(json_t *svc, txn *t, kf_resp *r);
bool kf__np_in_range(long long p);
bool kf__new_has_node_port(json_t *svc, long long np);
int  kf__alloc_node_ports(json_t *svc, json_t *old, txn *t, kf_resp *r);
int  kf__alloc_hc_node_port(json_t *svc, json_t *old, txn *t, kf_resp *r);
int  kf__init_ip_families(json_t *svc, json_t *old, kf_resp *r);
void kf__normalize_cluster_ips(json_t *svc);
void kf__mark(json_t *svc, bool used);

#endif // KF_SVC_H
