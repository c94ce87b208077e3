// store_etcd_test.c: what only the etcd backend has (placeholder).
int main(void);
int
main(void)
{
	return (77);
}
