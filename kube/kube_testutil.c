// kube_testutil.c: see kube_testutil.h.
#include "kube_testutil.h"

#include <stdio.h>
#include <string.h>

// FieldsV1 of v, as structured-merge-diff records an applied object.
static json_t *
fields_of(const json_t *v, const char *key)
{
	json_t *fs = json_object();
	if (key != NULL && strcmp(key, "selector") == 0) {
		return (fs); // atomic map: owned as a whole
	}
	if (json_is_object(v)) {
		const char *k;
		json_t     *x;
		json_object_foreach((json_t *) v, k, x)
		{
			char f[300];
			snprintf(f, sizeof(f), "f:%s", k);
			json_object_set_new(fs, f, fields_of(x, k));
		}
	} else if (json_is_array(v) && key != NULL
	    && strcmp(key, "ports") == 0) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *p = json_array_get(v, i);
			char    k[200];
			snprintf(k, sizeof(k),
			    "k:{\"port\":%lld,\"protocol\":\"%s\"}",
			    (long long) json_integer_value(
			        json_object_get(p, "port")),
			    json_string_value(json_object_get(p, "protocol")));
			json_t *item = fields_of(p, NULL);
			json_object_set_new(item, ".", json_object());
			json_object_set_new(fs, k, item);
		}
	}
	return (fs);
}

void
sf_kube_test_applied(json_t *o, const char *manager, const char *rv)
{
	json_t *applied = json_deep_copy(o), *md;

	json_object_del(applied, "apiVersion");
	json_object_del(applied, "kind");
	json_object_del(json_object_get(applied, "metadata"), "name");
	json_object_del(json_object_get(applied, "metadata"), "namespace");
	md = json_object_get(o, "metadata");
	json_object_set_new(
	    md, "uid", json_string("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"));
	json_object_set_new(md, "resourceVersion", json_string(rv));
	json_object_set_new(md, "managedFields",
	    json_pack("[{s:s,s:s,s:s,s:s,s:o}]", "manager", manager,
	        "operation", "Apply", "apiVersion", "v1", "fieldsType",
	        "FieldsV1", "fieldsV1", fields_of(applied, NULL)));
	json_decref(applied);
	json_object_set_new(
	    json_object_get(o, "spec"), "clusterIP", json_string("10.96.7.8"));
}
