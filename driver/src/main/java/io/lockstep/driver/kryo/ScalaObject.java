package io.lockstep.driver.kryo;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

/**
 * A Scala {@code object} (Spark SQL's {@code DoubleType}, {@code StringType}, ...) read back as the one instance
 * its class holds: Spark matches on them by identity, so a copy made by Kryo would match nothing.
 */
final class ScalaObject extends Serializer<Object> {
    ScalaObject() {
        setImmutable(true);
    }

    @Override
    public void write(Kryo kryo, Output output, Object object) {
    }

    @Override
    public Object read(Kryo kryo, Input input, Class<Object> type) {
        try {
            return type.getField("MODULE$").get(null);
        } catch (ReflectiveOperationException e) {
            throw new KryoException(type.getName() + " is no Scala object", e);
        }
    }
}
