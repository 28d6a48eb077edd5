/* A shared library that exports no gessl entry symbol: the loader must refuse it. */
int gessl_test_not_an_entry(void);
int gessl_test_not_an_entry(void) { return 42; }
