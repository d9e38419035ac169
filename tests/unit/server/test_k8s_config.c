/*
 * test_k8s_config.c - unit tests for server/k8s_config.c with the sample kubeconfigs and the
 * service-account directory in tests/data/k8s: current and named contexts, relative paths
 * resolved against the kubeconfig's directory, certificate-authority-data and client
 * certificate data decoded, token files re-read, KUBECONFIG lists and ~/.kube/config,
 * exec/auth-provider users refused with a clear message, dangling references, in-cluster
 * settings (IPv4, IPv6, missing env or token), and base64.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jp_err.h"
#include "k8s_config.h"

#define DATA "tests/data/k8s"

static char g_data[PATH_MAX];

static void test_kubeconfig_current_context_token(void **state)
{
    struct k8s_conn c;
    char why[512], ca[PATH_MAX + 16];
    (void)state;

    int rc = k8s_conn_from_kubeconfig(DATA "/kubeconfig-token.yaml", NULL, &c, why, sizeof why);
    if (rc)
        fail_msg("%s", why);
    assert_string_equal(c.server, "https://127.0.0.1:6443");
    snprintf(ca, sizeof ca, "%s/ca.crt", DATA);
    assert_string_equal(c.ca_file, ca);
    assert_null(c.ca_pem);
    assert_string_equal(c.tls_server_name, "kubernetes.default");
    assert_false(c.insecure_skip_tls_verify);
    assert_string_equal(c.token, "static-token-123");
    assert_null(c.token_file);
    assert_string_equal(c.namespace, "cnote");
    assert_string_equal(c.context, "dev");
    assert_string_equal(c.source, DATA "/kubeconfig-token.yaml");

    char *tok;
    assert_int_equal(k8s_conn_read_token(&c, &tok, why, sizeof why), 0);
    assert_string_equal(tok, "static-token-123");
    free(tok);
    k8s_conn_free(&c);
    assert_null(c.server);
    k8s_conn_free(&c); /* twice is fine */
    k8s_conn_free(NULL);
}

static void test_kubeconfig_named_context_cert_data_ipv6(void **state)
{
    struct k8s_conn c;
    char why[512];
    (void)state;

    int rc = k8s_conn_from_kubeconfig(DATA "/kubeconfig-token.yaml", "prod", &c, why, sizeof why);
    if (rc)
        fail_msg("%s", why);
    assert_string_equal(c.server, "https://[fd00::1]:443");
    assert_null(c.ca_file);
    assert_non_null(c.ca_pem);
    assert_string_equal(c.ca_pem,
                        "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n");
    assert_int_equal(c.ca_pem_len, strlen(c.ca_pem));
    assert_string_equal(c.client_cert_pem,
                        "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n");
    assert_string_equal(c.client_key_pem,
                        "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n");
    assert_null(c.token);
    assert_string_equal(c.namespace, "default");

    char *tok = (char *)1;
    assert_int_equal(k8s_conn_read_token(&c, &tok, why, sizeof why), 0);
    assert_null(tok);
    k8s_conn_free(&c);
}

static void test_kubeconfig_relative_files_and_token_file(void **state)
{
    struct k8s_conn c;
    char why[512];
    (void)state;

    /* an absolute kubeconfig path: relative entries resolve against its directory */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/kubeconfig-token.yaml", g_data);
    int rc = k8s_conn_from_kubeconfig(path, "files", &c, why, sizeof why);
    if (rc)
        fail_msg("%s", why);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/token", g_data);
    assert_string_equal(c.token_file, want);
    snprintf(want, sizeof want, "%s/keys/client.key", g_data);
    assert_string_equal(c.client_key_file, want);
    assert_string_equal(c.client_cert_file, "/abs/client.crt");
    char *tok;
    assert_int_equal(k8s_conn_read_token(&c, &tok, why, sizeof why), 0);
    assert_string_equal(tok, "file-token-abc");
    free(tok);

    /* re-read: the file's current contents, every time */
    char tmp[] = "/tmp/test_k8s_tok_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "one\n", 4), 4);
    close(fd);
    free(c.token_file);
    c.token_file = strdup(tmp);
    assert_int_equal(k8s_conn_read_token(&c, &tok, why, sizeof why), 0);
    assert_string_equal(tok, "one");
    free(tok);
    FILE *f = fopen(tmp, "w");
    fputs("  two  \n", f);
    fclose(f);
    assert_int_equal(k8s_conn_read_token(&c, &tok, why, sizeof why), 0);
    assert_string_equal(tok, "two");
    free(tok);
    f = fopen(tmp, "w");
    fclose(f);
    assert_int_equal(k8s_conn_read_token(&c, &tok, why, sizeof why), JP_EIO);
    assert_non_null(strstr(why, "empty token"));
    unlink(tmp);
    assert_int_equal(k8s_conn_read_token(&c, &tok, why, sizeof why), JP_ENOENT);
    k8s_conn_free(&c);
}

static void test_kubeconfig_exec_and_auth_provider_refused(void **state)
{
    struct k8s_conn c;
    char why[512];
    (void)state;

    assert_int_equal(
        k8s_conn_from_kubeconfig(DATA "/kubeconfig-exec.yaml", NULL, &c, why, sizeof why),
        JP_EINVAL);
    assert_non_null(strstr(why, "exec plugin"));
    assert_non_null(strstr(why, "not support"));
    assert_non_null(strstr(why, "use a token"));
    assert_null(c.server);
    assert_int_equal(
        k8s_conn_from_kubeconfig(DATA "/kubeconfig-exec.yaml", "gke", &c, why, sizeof why),
        JP_EINVAL);
    assert_non_null(strstr(why, "auth-provider"));

    /* username/password is carried through; insecure-skip-tls-verify read */
    assert_int_equal(
        k8s_conn_from_kubeconfig(DATA "/kubeconfig-exec.yaml", "basic", &c, why, sizeof why), 0);
    assert_string_equal(c.username, "admin");
    assert_string_equal(c.password, "secret");
    assert_true(c.insecure_skip_tls_verify);
    k8s_conn_free(&c);

    assert_int_equal(
        k8s_conn_from_kubeconfig(DATA "/kubeconfig-exec.yaml", "halfcert", &c, why, sizeof why),
        JP_EINVAL);
    assert_non_null(strstr(why, "without its key"));
}

static void test_kubeconfig_errors(void **state)
{
    struct k8s_conn c;
    char why[512];
    (void)state;

    assert_int_equal(
        k8s_conn_from_kubeconfig(DATA "/kubeconfig-token.yaml", "nope", &c, why, sizeof why),
        JP_ENOENT);
    assert_non_null(strstr(why, "no context named 'nope'"));
    assert_int_equal(
        k8s_conn_from_kubeconfig(DATA "/kubeconfig-token.yaml", "dangling", &c, why, sizeof why),
        JP_ENOENT);
    assert_non_null(strstr(why, "no cluster named 'no-such-cluster'"));
    assert_int_equal(k8s_conn_from_kubeconfig(DATA "/missing.yaml", NULL, &c, why, sizeof why),
                     JP_ENOENT);
    assert_int_equal(
        k8s_conn_from_kubeconfig(DATA "/kubeconfig-bad.yaml", NULL, &c, why, sizeof why),
        JP_EINVAL);
    assert_non_null(strstr(why, "certificate-authority-data is not valid base64"));
    assert_int_equal(k8s_conn_from_kubeconfig(DATA "/ca.crt", NULL, &c, why, sizeof why),
                     JP_EINVAL);
    assert_null(c.server);
}

static void test_kubeconfig_env_list_and_home(void **state)
{
    struct k8s_conn c;
    char why[512], list[4 * PATH_MAX];
    (void)state;

    /* missing files skipped; the first file with the context wins */
    snprintf(list, sizeof list, "/nonexistent/a:%s/kubeconfig-exec.yaml:%s/kubeconfig-token.yaml",
             g_data, g_data);
    setenv("KUBECONFIG", list, 1);
    assert_int_equal(k8s_conn_from_kubeconfig(NULL, "prod", &c, why, sizeof why), 0);
    assert_string_equal(c.context, "prod");
    assert_non_null(strstr(c.source, "kubeconfig-token.yaml"));
    k8s_conn_free(&c);
    /* no context named: the first file with a current-context (the exec one: refused) */
    assert_int_equal(k8s_conn_from_kubeconfig(NULL, NULL, &c, why, sizeof why), JP_EINVAL);
    assert_int_equal(k8s_conn_from_kubeconfig(NULL, "nowhere", &c, why, sizeof why), JP_ENOENT);
    assert_non_null(strstr(why, "no file in KUBECONFIG has context 'nowhere'"));

    /* ~/.kube/config */
    unsetenv("KUBECONFIG");
    char home[] = "/tmp/test_k8s_home_XXXXXX", dir[PATH_MAX], cfg[PATH_MAX], src[PATH_MAX + 32];
    assert_non_null(mkdtemp(home));
    snprintf(dir, sizeof dir, "%s/.kube", home);
    mkdir(dir, 0700);
    snprintf(cfg, sizeof cfg, "%s/config", dir);
    snprintf(src, sizeof src, "%s/kubeconfig-token.yaml", g_data);
    assert_int_equal(symlink(src, cfg), 0);
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", home, 1);
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(k8s_conn_auto(NULL, NULL, &c, why, sizeof why), 0);
    assert_string_equal(c.source, cfg);
    assert_string_equal(c.token, "static-token-123");
    /* the CA path resolves against the directory of the path used (the symlink's) */
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s/ca.crt", dir);
    assert_string_equal(c.ca_file, want);
    k8s_conn_free(&c);
    unlink(cfg);
    assert_int_equal(k8s_conn_from_kubeconfig(NULL, NULL, &c, why, sizeof why), JP_ENOENT);
    assert_non_null(strstr(why, "does not exist"));
    rmdir(dir);
    rmdir(home);
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);
}

static void test_in_cluster(void **state)
{
    struct k8s_conn c;
    char why[512];
    (void)state;

    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(k8s_conn_in_cluster(DATA "/serviceaccount", &c, why, sizeof why), JP_ENOENT);
    assert_non_null(strstr(why, "KUBERNETES_SERVICE_HOST"));

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(k8s_conn_in_cluster(DATA "/serviceaccount", &c, why, sizeof why), 0);
    assert_string_equal(c.server, "https://10.96.0.1:443");
    assert_string_equal(c.ca_file, DATA "/serviceaccount/ca.crt");
    assert_string_equal(c.token_file, DATA "/serviceaccount/token");
    assert_null(c.token);
    assert_string_equal(c.namespace, "cnote");
    assert_string_equal(c.context, "in-cluster");
    char *tok;
    assert_int_equal(k8s_conn_read_token(&c, &tok, why, sizeof why), 0);
    assert_string_equal(tok, "eyJhbGciOiJSUzI1NiJ9.sa-token");
    free(tok);
    k8s_conn_free(&c);

    setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
    unsetenv("KUBERNETES_SERVICE_PORT");
    assert_int_equal(k8s_conn_in_cluster(DATA "/serviceaccount", &c, why, sizeof why), 0);
    assert_string_equal(c.server, "https://[fd00:10:96::1]:443");
    k8s_conn_free(&c);

    /* k8s_conn_auto prefers in-cluster when no kubeconfig is named */
    if (k8s_conn_auto(NULL, NULL, &c, why, sizeof why) == 0) /* only inside a real pod */
        k8s_conn_free(&c);
    else
        assert_non_null(strstr(why, K8S_SA_DIR));
    assert_int_equal(k8s_conn_auto(DATA "/kubeconfig-token.yaml", NULL, &c, why, sizeof why), 0);
    assert_string_equal(c.context, "dev");
    k8s_conn_free(&c);

    setenv("KUBERNETES_SERVICE_PORT", "https", 1);
    assert_int_equal(k8s_conn_in_cluster(DATA "/serviceaccount", &c, why, sizeof why), JP_EINVAL);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    assert_int_equal(k8s_conn_in_cluster(DATA, &c, why, sizeof why), 0); /* token: data/token */
    assert_string_equal(c.namespace, "default");                         /* no namespace file */
    k8s_conn_free(&c);
    assert_int_equal(k8s_conn_in_cluster("/nonexistent", &c, why, sizeof why), JP_ENOENT);
    assert_non_null(strstr(why, "service-account token"));
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = k8s_base64_encode(cases[i], strlen(cases[i]));
        assert_string_equal(e, enc[i]);
        char *d;
        size_t n;
        assert_int_equal(k8s_base64_decode(e, strlen(e), &d, &n), 0);
        assert_int_equal(n, strlen(cases[i]));
        assert_string_equal(d, cases[i]);
        free(e);
        free(d);
    }
    char *d;
    size_t n;
    assert_int_equal(k8s_base64_decode("Zm9v\nYmFy\n", 10, &d, &n), 0);
    assert_string_equal(d, "foobar");
    free(d);
    assert_int_equal(k8s_base64_decode("Zm9vYmFy", 6, &d, &n), JP_EINVAL); /* "Zm9vYm" tail */
    assert_int_equal(k8s_base64_decode("Zm=9", 4, &d, &n), JP_EINVAL);
    assert_int_equal(k8s_base64_decode("Z$==", 4, &d, &n), JP_EINVAL);
    assert_int_equal(k8s_base64_decode("Z", 1, &d, &n), JP_EINVAL);
}

static int setup(void **state)
{
    (void)state;
    if (!realpath(DATA, g_data))
        return -1;
    unsetenv("KUBECONFIG");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubeconfig_current_context_token),
        cmocka_unit_test(test_kubeconfig_named_context_cert_data_ipv6),
        cmocka_unit_test(test_kubeconfig_relative_files_and_token_file),
        cmocka_unit_test(test_kubeconfig_exec_and_auth_provider_refused),
        cmocka_unit_test(test_kubeconfig_errors),
        cmocka_unit_test(test_kubeconfig_env_list_and_home),
        cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_base64_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
