typedef int sf_test_util_unused;
