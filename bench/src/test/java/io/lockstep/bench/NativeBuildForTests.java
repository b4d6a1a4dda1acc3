package io.lockstep.bench;

import io.lockstep.worker.cpu.NativeBuild;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Tests load ND4J the way a Lockstep JVM does: the build is chosen from the CPU's flags before the
 * first test class touches ND4J. Without it JavaCPP would take the AVX2 natives whatever the CPU.
 * Registered in META-INF/services; JUnit calls it when the test JVM's launcher session opens.
 */
public final class NativeBuildForTests implements LauncherSessionListener {
    @Override
    public void launcherSessionOpened(LauncherSession session) {
        NativeBuild.select();
    }
}
