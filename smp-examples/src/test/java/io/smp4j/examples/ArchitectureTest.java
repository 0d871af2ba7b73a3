package io.smp4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.Communicator;
import io.smp4j.core.Smp;
import io.smp4j.pipeline.schedule.Schedules;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The house rules that keep smp4j easy to change, checked on every build: no dependency cycle between files (a
 * nested class counts as its file) nor between packages, and no file in {@code src/main} over 300 lines without the reason written at
 * its top.
 */
class ArchitectureTest {
    static final int MAX_LINES = 300;

    /** Every module's compiled classes: a class of each module says where they are. */
    static List<String> classRoots() {
        List<String> roots = new ArrayList<>();
        for (Class<?> c : new Class<?>[] {Communicator.class, Schedules.class, Smp.class, Cli.class}) {
            roots.add(Path.of(c.getProtectionDomain().getCodeSource().getLocation().getPath()).toString());
        }
        return roots;
    }

    /** Class -> the classes it uses (nested classes as their file), over every module, from jdeps. */
    static Map<String, Set<String>> classEdges() {
        ToolProvider jdeps = ToolProvider.findFirst("jdeps").orElseThrow(() -> new AssertionError("no jdeps (a JDK)"));
        Map<String, Set<String>> edges = new TreeMap<>();
        Pattern edge = Pattern.compile("^\\s+(io\\.smp4j\\.\\S+)\\s+->\\s+(io\\.smp4j\\.\\S+)");
        for (String root : classRoots()) {
            StringWriter out = new StringWriter();
            int code = jdeps.run(new PrintWriter(out), new PrintWriter(new StringWriter()), "-verbose:class",
                    "-filter:none", root);
            assertEquals(0, code, "jdeps " + root + ": " + out);
            for (String line : out.toString().split("\n")) {
                Matcher m = edge.matcher(line);
                if (m.find()) {
                    String from = m.group(1).split("\\$")[0];
                    String to = m.group(2).split("\\$")[0];
                    if (!from.equals(to)) {
                        edges.computeIfAbsent(from, k -> new TreeSet<>()).add(to);
                    }
                }
            }
        }
        assertTrue(edges.size() > 50, "jdeps saw " + edges.size() + " classes");
        return edges;
    }

    @Test
    void noFileDependsOnItselfThroughOthers() {
        List<Set<String>> cycles = stronglyConnected(classEdges());
        assertEquals(List.of(), cycles, "files that depend on each other");
    }

    /**
     * No package depends on itself through others either: each package is a layer of its module, so that a package
     * can be read, tested and replaced with only the packages below it.
     */
    @Test
    void noPackageDependsOnItselfThroughOthers() {
        Map<String, Set<String>> packages = new TreeMap<>();
        classEdges().forEach((from, tos) -> {
            String p = packageOf(from);
            for (String to : tos) {
                if (!packageOf(to).equals(p)) {
                    packages.computeIfAbsent(p, k -> new TreeSet<>()).add(packageOf(to));
                }
            }
        });
        assertTrue(packages.size() > 15, "jdeps saw " + packages.size() + " packages");
        assertEquals(List.of(), stronglyConnected(packages), "packages that depend on each other");
        // Not vacuous: a cycle of two packages is found.
        assertEquals(1, stronglyConnected(Map.of("a", Set.of("b"), "b", Set.of("a"))).size());
    }

    private static String packageOf(String className) {
        return className.substring(0, className.lastIndexOf('.'));
    }

    /** Tarjan's algorithm, iterative: the components of more than one class. */
    static List<Set<String>> stronglyConnected(Map<String, Set<String>> edges) {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new HashSet<>();
        List<Set<String>> out = new ArrayList<>();
        int[] next = {0};
        for (String start : edges.keySet()) {
            if (index.containsKey(start)) {
                continue;
            }
            Deque<Object[]> work = new ArrayDeque<>();
            work.push(new Object[] {start, List.copyOf(edges.getOrDefault(start, Set.of())).iterator()});
            index.put(start, next[0]);
            low.put(start, next[0]++);
            stack.push(start);
            onStack.add(start);
            while (!work.isEmpty()) {
                Object[] frame = work.peek();
                String v = (String) frame[0];
                @SuppressWarnings("unchecked")
                java.util.Iterator<String> it = (java.util.Iterator<String>) frame[1];
                if (it.hasNext()) {
                    String w = it.next();
                    if (!index.containsKey(w)) {
                        index.put(w, next[0]);
                        low.put(w, next[0]++);
                        stack.push(w);
                        onStack.add(w);
                        work.push(new Object[] {w, List.copyOf(edges.getOrDefault(w, Set.of())).iterator()});
                    } else if (onStack.contains(w)) {
                        low.put(v, Math.min(low.get(v), index.get(w)));
                    }
                    continue;
                }
                work.pop();
                if (!work.isEmpty()) {
                    String parent = (String) work.peek()[0];
                    low.put(parent, Math.min(low.get(parent), low.get(v)));
                }
                if (low.get(v).equals(index.get(v))) {
                    Set<String> component = new TreeSet<>();
                    String w;
                    do {
                        w = stack.pop();
                        onStack.remove(w);
                        component.add(w);
                    } while (!w.equals(v));
                    if (component.size() > 1) {
                        out.add(component);
                    }
                }
            }
        }
        return out;
    }

    @Test
    void longFilesSayWhy() throws Exception {
        Path repo = Path.of("").toAbsolutePath().getParent();
        List<String> tooLong = new ArrayList<>();
        int files = 0;
        for (String module : new String[] {"smp-comm", "smp-pipeline", "smp-core", "smp-examples"}) {
            try (Stream<Path> walk = Files.walk(repo.resolve(module).resolve("src/main"))) {
                for (Path f : walk.filter(p -> p.toString().endsWith(".java")).toList()) {
                    files++;
                    List<String> lines = Files.readAllLines(f);
                    String head = String.join("\n", lines.subList(0, Math.min(lines.size(), 40)));
                    if (lines.size() > MAX_LINES && !head.contains("Longer than " + MAX_LINES + " lines")) {
                        tooLong.add(repo.relativize(f) + " (" + lines.size() + " lines)");
                    }
                }
            }
        }
        assertTrue(files > 50, files + " source files found under " + repo);
        assertEquals(List.of(), tooLong, "files over " + MAX_LINES + " lines without 'Longer than " + MAX_LINES
                + " lines' and a reason at their top");
    }
}
