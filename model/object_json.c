// object_json.c: svcfleet's own objects as JSON — clusters, role bindings,
// tokens, audit events, who-am-i — in one shape for every program that
// prints them (the CLI's -o json|yaml, the JSON gateway and so the web
// console), and the small JSON setters they are built with.
//
// The shape is Kubernetes': apiVersion, kind, metadata {name,
// creationTimestamp, ...}, then the object's fields; names are lowerCamel;
// an id is the object's metadata.name. Empty strings and zero times are
// left out rather than printed empty. Every time is RFC 3339 in UTC with
// milliseconds (sf_model_json_set_time), Service manifests included, so a
// program reads every svcfleet time the same way.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "clock.h"
#include "model.h"
#include "str.h"

// ------------------------------------------------------------- setters

void
sf_model_json_set(json_t *obj, const char *key, json_t *v)
{
	if (obj != NULL && v != NULL) {
		json_object_set_new(obj, key, v);
	} else {
		json_decref(v);
	}
}

void
sf_model_json_set_str(json_t *obj, const char *key, const char *s)
{
	if (s != NULL && s[0] != '\0') {
		sf_model_json_set(obj, key, json_string(s));
	}
}

void
sf_model_json_format_time(int64_t ms, char *buf, size_t cap)
{
	sf_clock_format_rfc3339_ms(ms, buf, cap);
}

void
sf_model_json_set_time(json_t *obj, const char *key, int64_t ms)
{
	char ts[40];
	if (ms != 0) {
		sf_model_json_format_time(ms, ts, sizeof(ts));
		sf_model_json_set(obj, key, json_string(ts));
	}
}

void
sf_model_json_set_u64(json_t *obj, const char *key, uint64_t v)
{
	char num[24];
	if (v != 0) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long) v);
		sf_model_json_set(obj, key, json_string(num));
	}
}

json_t *
sf_model_json_kv_object(Svcfleet__V1__KeyValue *const *kv, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++) {
		if (kv[i] != NULL && kv[i]->key != NULL) {
			sf_model_json_set(
			    o, kv[i]->key, json_string(sf_nz(kv[i]->value)));
		}
	}
	return (o);
}

json_t *
sf_model_json_str_array(char *const *s, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n && a != NULL; i++) {
		json_array_append_new(a, json_string(sf_nz(s[i])));
	}
	return (a);
}

json_t *
sf_model_json_list(const char *api_version, const char *kind, json_t *items)
{
	json_t *l;
	if (items == NULL) {
		return (NULL);
	}
	l = json_pack("{s:s,s:s,s:{}}", "apiVersion", api_version, "kind",
	    kind, "metadata");
	if (l == NULL) {
		json_decref(items);
		return (NULL);
	}
	sf_model_json_set(l, "items", items);
	return (l);
}

// The items of a list: item(v, i) encodes the i-th of n. NULL when out
// of memory.
static json_t *
items_of(const void *v, size_t n, const void *arg,
    json_t *(*item)(const void *v, size_t i, const void *arg))
{
	json_t *a = json_array();
	for (size_t i = 0; i < n && a != NULL; i++) {
		json_t *o = item(v, i, arg);
		if (o == NULL || json_array_append_new(a, o) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return (a);
}

// The array encoder sf_model_<plural>_json of an encoder of one object
// that takes nothing else, sf_model_<name>_json.
#define ITEMS_OF(name, plural, Type)                                         \
	static json_t *name##_item(const void *v, size_t i, const void *arg) \
	{                                                                    \
		(void) arg;                                                  \
		return (sf_model_##name##_json(((Type *const *) v)[i]));     \
	}                                                                    \
	json_t *sf_model_##plural##_json(Type *const *v, size_t n)           \
	{                                                                    \
		return (items_of(v, n, NULL, name##_item));                  \
	}

// An object of svcfleet's API group: apiVersion, kind and metadata with
// its name and creation time.
static json_t *
object_new(const char *kind, const char *name, int64_t created_ms)
{
	json_t *o = json_pack(
	    "{s:s,s:s}", "apiVersion", SF_MODEL_API_GROUP, "kind", kind);
	json_t *md = json_object();

	sf_model_json_set_str(md, "name", name);
	sf_model_json_set_time(md, "creationTimestamp", created_ms);
	sf_model_json_set(o, "metadata", md);
	return (o);
}

static json_t *
metadata_of(json_t *o)
{
	return (json_object_get(o, "metadata"));
}

// ------------------------------------------------------------ clusters

const char *
sf_model_cluster_health_name(int state)
{
	switch (state) {
	case SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_READY:
		return ("READY");
	case SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNREACHABLE:
		return ("UNREACHABLE");
	case SVCFLEET__V1__CLUSTER_HEALTH_STATE__CLUSTER_HEALTH_UNAUTHORIZED:
		return ("UNAUTHORIZED");
	default:
		return ("UNKNOWN");
	}
}

// Binary data as standard base64 (kubeconfig's "-data" fields); NULL for
// none.
static json_t *
b64_string(const ProtobufCBinaryData *d)
{
	char   *out;
	json_t *s;
	if (d->len == 0) {
		return (NULL);
	}
	if ((out = malloc(sf_base64_encoded_len(d->len, 0) + 1)) == NULL) {
		return (NULL);
	}
	sf_base64_encode(out, d->data, d->len, 0);
	s = json_string(out);
	free(out);
	return (s);
}

// A credential: the value, or a mark that there is one.
static json_t *
secret(json_t *v, int flags)
{
	if (v != NULL && (flags & SF_MODEL_JSON_REDACT) != 0) {
		json_decref(v);
		return (json_string("<redacted>"));
	}
	return (v);
}

json_t *
sf_model_cluster_json(const Svcfleet__V1__Cluster *cl, int flags)
{
	json_t *o  = object_new("Cluster", cl->name, cl->create_time_ms);
	json_t *md = metadata_of(o), *sp = json_object(), *st = json_object();
	const Svcfleet__V1__ClusterHealth *h = cl->health;
	char                               range[32];

	sf_model_json_set_u64(md, "resourceVersion", cl->resource_version);
	if (cl->n_labels > 0) {
		sf_model_json_set(md, "labels",
		    sf_model_json_kv_object(cl->labels, cl->n_labels));
	}

	sf_model_json_set_str(sp, "apiServer", cl->api_server);
	sf_model_json_set(sp, "caData", b64_string(&cl->ca_data));
	if (sf_nz(cl->token)[0] != '\0') {
		sf_model_json_set(
		    sp, "token", secret(json_string(cl->token), flags));
	}
	sf_model_json_set(
	    sp, "clientCertificateData", b64_string(&cl->client_cert));
	sf_model_json_set(
	    sp, "clientKeyData", secret(b64_string(&cl->client_key), flags));
	if (cl->insecure_skip_verify) {
		sf_model_json_set(sp, "insecureSkipVerify", json_true());
	}
	snprintf(range, sizeof(range), "%d-%d",
	    cl->node_port_min ? cl->node_port_min
	                      : SF_MODEL_NODE_PORT_MIN_DEFAULT,
	    cl->node_port_max ? cl->node_port_max
	                      : SF_MODEL_NODE_PORT_MAX_DEFAULT);
	sf_model_json_set(sp, "nodePortRange", json_string(range));
	// True also when the server keeps the credentials from a caller who
	// is not an admin: then none of them is printed.
	sf_model_json_set(
	    sp, "hasCredentials", json_boolean(cl->has_credentials));
	sf_model_json_set(o, "spec", sp);

	sf_model_json_set(st, "health",
	    json_string(sf_model_cluster_health_name(h ? h->state : 0)));
	if (h != NULL) {
		sf_model_json_set_str(st, "serverVersion", h->server_version);
		sf_model_json_set_time(
		    st, "lastContactTime", h->last_contact_ms);
		sf_model_json_set_str(st, "message", h->message);
		if (h->pools_known) {
			json_t *pools = json_array();
			for (size_t i = 0; i < h->n_pools; i++) {
				json_array_append_new(pools,
				    json_pack("{s:s,s:o}", "name",
				        sf_nz(h->pools[i]->name), "addresses",
				        sf_model_json_str_array(
				            h->pools[i]->addresses,
				            h->pools[i]->n_addresses)));
			}
			sf_model_json_set(st, "metallbPools", pools);
		}
	}
	sf_model_json_set_str(st, "createdBy", cl->created_by);
	// Who holds the cluster (issue 16); only in replies.
	sf_model_json_set_str(st, "owner", cl->owner);
	if (cl->claim_token != 0) {
		sf_model_json_set_u64(st, "claimToken", cl->claim_token);
	}
	sf_model_json_set_time(st, "unownedSince", cl->unowned_since_ms);
	sf_model_json_set_time(st, "lastSyncTime", cl->last_sync_ms);
	sf_model_json_set(o, "status", st);
	return (o);
}

json_t *
sf_model_workload_json(const Svcfleet__V1__Workload *w, const char *ns)
{
	return (json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:{s:{s:o}}}}",
	    "apiVersion", "apps/v1", "kind", sf_nz(w->kind), "metadata",
	    "name", sf_nz(w->name), "namespace", sf_nz(ns), "spec", "template",
	    "metadata", "labels",
	    sf_model_json_kv_object(w->labels, w->n_labels)));
}

// A namespace as the v1 Namespace it is, reduced to its name.
static json_t *
namespace_item(const void *v, size_t i, const void *arg)
{
	(void) arg;
	return (json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind",
	    "Namespace", "metadata", "name", sf_nz(((char *const *) v)[i])));
}

json_t *
sf_model_namespaces_json(char *const *names, size_t n)
{
	return (items_of(names, n, NULL, namespace_item));
}

static json_t *
workload_item(const void *v, size_t i, const void *arg)
{
	return (sf_model_workload_json(
	    ((Svcfleet__V1__Workload *const *) v)[i], arg));
}

json_t *
sf_model_workloads_json(
    Svcfleet__V1__Workload *const *w, size_t n, const char *ns)
{
	return (items_of(w, n, ns, workload_item));
}

// A MetalLB pool as the metallb.io IPAddressPool it is, reduced to its
// name and addresses.
static json_t *
pool_item(const void *v, size_t i, const void *arg)
{
	const Svcfleet__V1__IPPool *p = ((Svcfleet__V1__IPPool *const *) v)[i];
	(void) arg;
	return (json_pack("{s:s,s:s,s:{s:s},s:{s:o}}", "apiVersion",
	    "metallb.io/v1beta1", "kind", "IPAddressPool", "metadata", "name",
	    sf_nz(p->name), "spec", "addresses",
	    sf_model_json_str_array(p->addresses, p->n_addresses)));
}

json_t *
sf_model_pools_json(Svcfleet__V1__IPPool *const *p, size_t n)
{
	return (items_of(p, n, NULL, pool_item));
}

static json_t *
cluster_item(const void *v, size_t i, const void *arg)
{
	return (sf_model_cluster_json(
	    ((Svcfleet__V1__Cluster *const *) v)[i], *(const int *) arg));
}

json_t *
sf_model_clusters_json(Svcfleet__V1__Cluster *const *cl, size_t n, int flags)
{
	return (items_of(cl, n, &flags, cluster_item));
}

// ------------------------------------------------------- role bindings

json_t *
sf_model_role_binding_json(const Svcfleet__V1__RoleBinding *b)
{
	json_t *o     = object_new("RoleBinding", b->id, b->create_time_ms);
	bool    group = sf_nz(b->group)[0] != '\0';

	sf_model_json_set_str(o, "role", b->role);
	sf_model_json_set(o, "subject",
	    json_pack("{s:s,s:s}", "kind", group ? "Group" : "User", "name",
	        group ? b->group : sf_nz(b->user)));
	sf_model_json_set_str(o, "cluster", b->cluster);
	sf_model_json_set_str(o, "namespace", b->namespace_);
	sf_model_json_set_str(o, "createdBy", b->created_by);
	return (o);
}

ITEMS_OF(role_binding, role_bindings, Svcfleet__V1__RoleBinding)

// -------------------------------------------------------------- tokens

json_t *
sf_model_token_json(const Svcfleet__V1__Token *t)
{
	json_t *o = object_new("Token", t->id, t->create_time_ms);

	sf_model_json_set_str(o, "user", t->user);
	sf_model_json_set(
	    o, "groups", sf_model_json_str_array(t->groups, t->n_groups));
	sf_model_json_set_time(o, "expirationTimestamp", t->expire_time_ms);
	if (t->revoked) {
		sf_model_json_set(o, "revoked", json_true());
	}
	sf_model_json_set_str(o, "createdBy", t->created_by);
	sf_model_json_set_str(o, "source", t->source);
	return (o);
}

json_t *
sf_model_new_token_json(const Svcfleet__V1__CreateTokenReply *r)
{
	json_t *o
	    = r->token != NULL ? sf_model_token_json(r->token) : json_object();
	sf_model_json_set_str(o, "secret", r->secret);
	return (o);
}

ITEMS_OF(token, tokens, Svcfleet__V1__Token)

// ---------------------------------------------------------- who am I

json_t *
sf_model_whoami_json(const Svcfleet__V1__WhoAmIReply *r)
{
	json_t *st = json_pack("{s:{s:s,s:o}}", "userInfo", "username",
	    sf_nz(r->user), "groups",
	    sf_model_json_str_array(r->groups, r->n_groups));
	sf_model_json_set_str(st, "tokenID", r->token_id);
	sf_model_json_set(st, "bindings",
	    sf_model_role_bindings_json(r->bindings, r->n_bindings));
	return (json_pack("{s:s,s:s,s:o}", "apiVersion", SF_MODEL_API_GROUP,
	    "kind", "WhoAmI", "status", st));
}

// -------------------------------------------------------- audit events

// As Kubernetes' audit.k8s.io Event, where the fields mean the same: user
// {username, groups}, verb, objectRef, responseStatus {status, code,
// message}; the id and time are the event's metadata.
json_t *
sf_model_audit_event_json(const Svcfleet__V1__AuditEvent *ev)
{
	const char *verb = strrchr(sf_nz(ev->method), '/');
	char        id[24];
	json_t     *o;

	snprintf(id, sizeof(id), "%llu", (unsigned long long) ev->id);
	o = object_new("AuditEvent", id, ev->time_ms);
	sf_model_json_set(o, "user",
	    json_pack("{s:s,s:o}", "username", sf_nz(ev->user), "groups",
	        sf_model_json_str_array(ev->groups, ev->n_groups)));
	sf_model_json_set_str(
	    o, "verb", verb != NULL ? verb + 1 : sf_nz(ev->method));
	sf_model_json_set_str(o, "method", ev->method);
	sf_model_json_set(o, "objectRef",
	    json_pack("{s:s,s:s,s:s}", "cluster", sf_nz(ev->cluster),
	        "namespace", sf_nz(ev->namespace_), "name", sf_nz(ev->name)));
	sf_model_json_set(o, "responseStatus",
	    json_pack("{s:s,s:i,s:s}", "status", sf_status_name(ev->code),
	        "code", ev->code, "message", sf_nz(ev->message)));
	sf_model_json_set_str(o, "requestID", ev->request_id);
	sf_model_json_set_u64(o, "revision", ev->revision);
	return (o);
}

ITEMS_OF(audit_event, audit_events, Svcfleet__V1__AuditEvent)
