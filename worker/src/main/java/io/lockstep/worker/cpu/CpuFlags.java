package io.lockstep.worker.cpu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * The instruction-set flags of this machine's CPU as Linux lists them in {@code /proc/cpuinfo}:
 * the {@code flags} line on x86 ({@code Features} on ARM) of the first processor. Unknown (no
 * flags) on other systems or when the file cannot be read: callers then take the generic build.
 *
 * @param source where the flags came from (the file, or why there are none), for the log line
 */
public record CpuFlags(Set<String> flags, String source) {
    public static final Path PROC_CPUINFO = Path.of("/proc/cpuinfo");

    public CpuFlags {
        flags = Collections.unmodifiableSet(new TreeSet<>(flags));
    }

    /** This machine's flags: {@link #PROC_CPUINFO} on Linux, none elsewhere. */
    public static CpuFlags ofThisMachine() {
        String os = System.getProperty("os.name", "");
        if (!os.toLowerCase(Locale.ROOT).startsWith("linux")) {
            return new CpuFlags(Set.of(), "not read on " + os);
        }
        return read(PROC_CPUINFO);
    }

    /** The flags in a file of {@code /proc/cpuinfo}'s format; none (with the reason) when it cannot be read. */
    public static CpuFlags read(Path cpuinfo) {
        String text;
        try {
            text = Files.readString(cpuinfo);
        } catch (IOException | RuntimeException e) {
            return new CpuFlags(Set.of(), cpuinfo + " unreadable (" + e.getClass().getSimpleName() + ")");
        }
        return parse(text, cpuinfo.toString());
    }

    /**
     * The flags of the first processor listed in {@code cpuinfo}'s text: the words after the colon of
     * its first {@code flags} (x86) or {@code Features} (ARM) line, lower-cased. Later processors are
     * not read: Linux lists the flags every core has in common on each of them.
     */
    public static CpuFlags parse(String cpuinfo, String source) {
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon).trim();
            if (key.equals("flags") || key.equals("Features")) {
                String words = line.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
                return new CpuFlags(words.isEmpty() ? Set.of() : Set.copyOf(Arrays.asList(words.split("\\s+"))), source);
            }
        }
        return new CpuFlags(Set.of(), source + " has no flags line");
    }

    /** Whether the CPU has every one of {@code required}. */
    public boolean hasAll(String... required) {
        return hasAll(Arrays.asList(required));
    }

    public boolean hasAll(Collection<String> required) {
        return flags.containsAll(required);
    }

    /** Which of {@code wanted} the CPU lacks, space separated ("" when none). */
    public String missing(String... wanted) {
        return missing(Arrays.asList(wanted));
    }

    public String missing(Collection<String> wanted) {
        return String.join(" ", wanted.stream().filter(f -> !flags.contains(f)).toList());
    }
}
