package io.lockstep.driver.doctor;

import java.util.Locale;

/**
 * One line of the doctor's report. {@code configError}: a FAIL that a config key's value causes (exit 2 when a
 * job starts).
 */
public record Finding(Status status, String name, String message, boolean configError) {

    static Finding ok(String name, String message) {
        return new Finding(Status.OK, name, message, false);
    }

    static Finding warn(String name, String message) {
        return new Finding(Status.WARN, name, message, false);
    }

    static Finding fail(String name, String message) {
        return new Finding(Status.FAIL, name, message, false);
    }

    static Finding configFail(String name, String message) {
        return new Finding(Status.FAIL, name, message, true);
    }

    /** "OK    shm       /dev/shm: ..." */
    public String line() {
        return String.format(Locale.ROOT, "%-5s %-9s %s", status, name, message);
    }
}
