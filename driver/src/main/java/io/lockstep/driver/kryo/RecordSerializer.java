package io.lockstep.driver.kryo;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Java record through its components and its canonical constructor. Kryo 4 (the one Spark 3.5 bundles) cannot
 * rebuild records: its field serializer sets final fields through Unsafe, which the JVM refuses for records.
 * Going through the constructor also runs the record's own checks and copies (WireDrops freezes its maps).
 *
 * <p>A component of a final type (float[], String, another record, a primitive) is written without its class;
 * List, Set and Map components as an ArrayList, LinkedHashSet or LinkedHashMap of their elements, since the JDK's
 * immutable collections cannot be rebuilt element by element; any other as class and object.
 */
final class RecordSerializer<T extends Record> extends Serializer<T> {
    private final Method[] accessors;
    private final Class<?>[] types;
    private final Constructor<T> constructor;

    RecordSerializer(Class<T> type) {
        RecordComponent[] components = type.getRecordComponents();
        accessors = new Method[components.length];
        types = new Class<?>[components.length];
        for (int i = 0; i < components.length; i++) {
            accessors[i] = components[i].getAccessor();
            accessors[i].setAccessible(true); // records that are not public (data.Example)
            types[i] = wireType(components[i].getType());
        }
        try {
            constructor = type.getDeclaredConstructor(
                java.util.Arrays.stream(components).map(RecordComponent::getType).toArray(Class<?>[]::new));
            constructor.setAccessible(true);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(type.getName() + " has no canonical constructor", e);
        }
        setImmutable(true);
        setAcceptsNull(false);
    }

    /** The class a component is written as: its collection copy, its own (final) type, or null: with its class. */
    private static Class<?> wireType(Class<?> declared) {
        if (declared == List.class || declared == Collection.class) {
            return ArrayList.class;
        }
        if (declared == Set.class) {
            return LinkedHashSet.class;
        }
        if (declared == Map.class) {
            return LinkedHashMap.class;
        }
        return declared.isPrimitive() || Modifier.isFinal(declared.getModifiers()) ? declared : null;
    }

    @Override
    public void write(Kryo kryo, Output output, T record) {
        for (int i = 0; i < accessors.length; i++) {
            Object value;
            try {
                value = accessors[i].invoke(record);
            } catch (IllegalAccessException | InvocationTargetException e) {
                throw new KryoException("cannot read " + accessors[i], e);
            }
            Class<?> type = types[i];
            if (type == null) {
                kryo.writeClassAndObject(output, value);
            } else if (type.isPrimitive()) {
                kryo.writeObject(output, value, kryo.getSerializer(type));
            } else {
                kryo.writeObjectOrNull(output, copyOf(type, value), type);
            }
        }
    }

    @Override
    public T read(Kryo kryo, Input input, Class<T> recordType) {
        Object[] values = new Object[types.length];
        for (int i = 0; i < types.length; i++) {
            Class<?> type = types[i];
            values[i] = type == null ? kryo.readClassAndObject(input)
                : type.isPrimitive() ? kryo.readObject(input, type, kryo.getSerializer(type))
                : kryo.readObjectOrNull(input, type);
        }
        try {
            return constructor.newInstance(values);
        } catch (InstantiationException | IllegalAccessException | InvocationTargetException e) {
            throw new KryoException("cannot rebuild " + recordType.getName(), e);
        }
    }

    /** A List, Set or Map component as the mutable class it is written as (itself when it is one already). */
    private static Object copyOf(Class<?> type, Object value) {
        if (value == null || value.getClass() == type) {
            return value;
        }
        if (type == ArrayList.class) {
            return new ArrayList<>((Collection<?>) value);
        }
        if (type == LinkedHashSet.class) {
            return new LinkedHashSet<>((Collection<?>) value);
        }
        if (type == LinkedHashMap.class) {
            return new LinkedHashMap<>((Map<?, ?>) value);
        }
        return value;
    }
}
