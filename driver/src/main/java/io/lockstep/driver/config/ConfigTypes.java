package io.lockstep.driver.config;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import io.lockstep.ps.media.PortRange;
import io.lockstep.ps.wire.WireFormat;
import io.lockstep.worker.model.Loss;
import io.lockstep.worker.model.ModelType;
import io.lockstep.worker.model.Models;
import org.nd4j.linalg.activations.Activation;
import io.lockstep.worker.optim.ClippingSpec;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.ScheduleSpec;
import io.lockstep.worker.train.Every;

import java.io.IOException;
import java.util.Locale;
import java.util.function.Function;

/**
 * How the typed values that other modules own read from and write to a config: each by its owner's parse rule
 * (which states the choices and the message once), so a bad value fails while binding, naming its key.
 * Lockstep's own enums ({@link Transport}, {@link ShardPlacement}, ...) carry their Jackson annotations.
 */
final class ConfigTypes {
    private ConfigTypes() {
    }

    static SimpleModule module() {
        SimpleModule m = new SimpleModule("lockstep-config");
        add(m, WireFormat.class, WireFormat::parse, WireFormat::configName);
        add(m, OptimizerSpec.Type.class, OptimizerSpec.Type::parse, OptimizerSpec.Type::key);
        add(m, OptimizerSpec.LrScaling.class, OptimizerSpec.LrScaling::parse, s -> s.name().toLowerCase(Locale.ROOT));
        add(m, ScheduleSpec.Kind.class, ScheduleSpec.Kind::parse, ScheduleSpec.Kind::key);
        add(m, ClippingSpec.Mode.class, ClippingSpec.Mode::parse, ClippingSpec.Mode::key);
        add(m, Every.class, ConfigTypes::every, Every::toString);
        add(m, ResumeFrom.class, ResumeFrom::parse, ResumeFrom::toString);
        add(m, Mtu.class, Mtu::parse, Mtu::toString);
        add(m, PortRange.class, PortRange::parse, PortRange::toString);
        add(m, TermLength.class, TermLength::parse, TermLength::toString);
        add(m, ModelType.class, ModelType::parse, ModelType::key);
        add(m, Loss.class, Loss::parse, Loss::key);
        add(m, Activation.class, Models::activation, a -> a.name().toLowerCase(Locale.ROOT));
        return m;
    }

    /** {@code N}, {@code N epochs} or {@code N steps}; a bare number counts epochs. */
    static Every every(String text) {
        Every every = text == null ? null : Every.parse(text);
        if (every == null) {
            throw new IllegalArgumentException("must be N, 'N epochs' or 'N steps', got '" + text + "'");
        }
        return every;
    }

    private static <T> void add(SimpleModule m, Class<T> type, Function<String, T> parse, Function<T, String> name) {
        m.addDeserializer(type, new JsonDeserializer<>() {
            @Override
            public T deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
                if (!p.hasToken(JsonToken.VALUE_STRING) && !p.currentToken().isScalarValue()) {
                    return ctxt.reportInputMismatch(type, "expected a value, got " + p.currentToken());
                }
                return parse.apply(p.getValueAsString()); // an IllegalArgumentException names the rule; bind names the key
            }
        });
        m.addSerializer(type, new JsonSerializer<>() {
            @Override
            public void serialize(T value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
                gen.writeString(name.apply(value));
            }
        });
    }
}
