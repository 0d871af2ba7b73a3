package io.smp4j.examples.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine;

/**
 * The one command-line parser of smp4j's programs (picocli): typed options declared on a {@code @Command} object,
 * {@code --help} for each, and every problem turned into one clear sentence (what was wrong, the value, what is
 * allowed) instead of picocli's wording or a stack trace.
 *
 * <pre>{@code
 * MyOptions o = new MyOptions();                       // a class with @Command and @Option fields
 * CommandLines.Parsed p = CommandLines.parse(o, List.of(args));
 * if (p.help()) { System.out.print(p.usage()); return; }
 * }</pre>
 */
public final class CommandLines {
    private CommandLines() {
    }

    /**
     * The outcome of a parse.
     *
     * @param help     whether {@code --help} was asked (then nothing else was checked)
     * @param usage    the command's help text
     * @param unparsed arguments after the first positional one when the command stops there, else empty
     */
    public record Parsed(boolean help, String usage, List<String> unparsed) {
    }

    /** Parses {@code args} into {@code command}'s fields; a bad command line is an {@link IllegalArgumentException}. */
    public static Parsed parse(Object command, List<String> args) {
        return parse(new CommandLine(command), args);
    }

    /** As {@link #parse(Object, List)}, for a configured {@link CommandLine}. */
    public static Parsed parse(CommandLine cl, List<String> args) {
        try {
            CommandLine.ParseResult r = cl.parseArgs(args.toArray(String[]::new));
            return new Parsed(r.isUsageHelpRequested(), cl.getUsageMessage(CommandLine.Help.Ansi.OFF),
                    r.unmatched());
        } catch (CommandLine.ParameterException e) {
            throw new IllegalArgumentException(describe(e), e);
        }
    }

    /** picocli's complaint as one of our sentences. */
    static String describe(CommandLine.ParameterException e) {
        if (e instanceof CommandLine.MissingParameterException m && !m.getMissing().isEmpty()) {
            ArgSpec a = m.getMissing().get(0);
            return a instanceof OptionSpec o ? "option " + o.longestName() + " needs a value"
                    : "missing " + a.paramLabel();
        }
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String arg = u.getUnmatched().get(0);
            if (arg.startsWith("-")) {
                List<String> s = u.getSuggestions();
                return "unknown option " + arg + (s.isEmpty() ? "" : "; did you mean "
                        + s.stream().limit(3).collect(Collectors.joining(" or ")) + "?");
            }
            return "unexpected argument '" + arg + "'";
        }
        if (e.getCause() instanceof CommandLine.TypeConversionException t && e.getArgSpec() instanceof OptionSpec o) {
            return o.longestName() + " " + t.getMessage();
        }
        return e.getMessage();
    }

    /**
     * A rank program's command line, or the end of the program: {@code --help} prints the usage and exits 0, a bad
     * command line prints {@code program: what was wrong} and exits 2.
     */
    public static <T> T parseOrExit(T command, String[] args, String program) {
        try {
            Parsed p = parse(command, List.of(args));
            if (p.help()) {
                System.out.print(p.usage());
                System.exit(0);
            }
        } catch (IllegalArgumentException e) {
            System.err.println(program + ": " + e.getMessage());
            System.exit(2);
        }
        return command;
    }

    /** {@code int} options with a lower bound; the message names what is expected, the bound and the value. */
    public static class AtLeast implements CommandLine.ITypeConverter<Integer> {
        private final int min;
        private final String what;

        protected AtLeast(int min) {
            this(min, "a whole number >= " + min);
        }

        /** {@code what}: what the option needs, e.g. {@code a number of processes}. */
        protected AtLeast(int min, String what) {
            this.min = min;
            this.what = what;
        }

        @Override
        public Integer convert(String v) {
            int n;
            try {
                n = Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                throw new CommandLine.TypeConversionException("needs " + what + ", got '" + v + "'");
            }
            if (n < min) {
                throw new CommandLine.TypeConversionException("must be at least " + min + ", got " + n);
            }
            return n;
        }
    }

    /** A whole number >= 1. */
    public static final class Positive extends AtLeast {
        public Positive() {
            super(1);
        }
    }

    /** A whole number >= 0. */
    public static final class NonNegative extends AtLeast {
        public NonNegative() {
            super(0);
        }
    }

    /** A number > 0 (a learning rate, say). */
    public static final class PositiveFloat implements CommandLine.ITypeConverter<Float> {
        @Override
        public Float convert(String v) {
            float f;
            try {
                f = Float.parseFloat(v.trim());
            } catch (NumberFormatException e) {
                throw new CommandLine.TypeConversionException("needs a number > 0, got '" + v + "'");
            }
            if (!(f > 0) || Float.isInfinite(f)) {
                throw new CommandLine.TypeConversionException("must be a number > 0, got " + v);
            }
            return f;
        }
    }

    /** A whole number (a seed). */
    public static final class AnyLong implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String v) {
            try {
                return Long.parseLong(v.trim());
            } catch (NumberFormatException e) {
                throw new CommandLine.TypeConversionException("needs a whole number, got '" + v + "'");
            }
        }
    }

    /** A file or directory that exists. */
    public static final class Existing implements CommandLine.ITypeConverter<Path> {
        @Override
        public Path convert(String v) {
            Path p = Path.of(v);
            if (!Files.exists(p)) {
                throw new CommandLine.TypeConversionException(v + ": no such file or directory");
            }
            return p;
        }
    }
}
