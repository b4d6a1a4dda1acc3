package io.lockstep.driver.config;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.Property;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** The warnings logged while it is open (the log4j2 root logger, which the "lockstep" logger reaches). */
final class LogCapture extends AbstractAppender implements AutoCloseable {
    private final List<String> warnings = new CopyOnWriteArrayList<>();
    private final LoggerConfig root;

    LogCapture() {
        super("capture", null, null, true, Property.EMPTY_ARRAY);
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        root = ctx.getConfiguration().getRootLogger();
        start();
        root.addAppender(this, Level.WARN, null);
        ctx.updateLoggers();
    }

    @Override
    public void append(LogEvent event) {
        warnings.add(event.getMessage().getFormattedMessage());
    }

    List<String> warnings() {
        return List.copyOf(warnings);
    }

    @Override
    public void close() {
        root.removeAppender(getName());
        ((LoggerContext) LogManager.getContext(false)).updateLoggers();
        stop();
    }
}
