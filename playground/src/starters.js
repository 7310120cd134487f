// A first program per language, found by the language's name: "Python (3.11.2)" uses the
// "Python" entry. Each reads a name from stdin, so the stdin box does something at once.
// A language without an entry starts with an empty editor.

const STARTERS = {
  Python: 'name = input()\nprint(f"Hello, {name}!")\n',
  C: '#include <stdio.h>\n\nint main(void) {\n    char name[100];\n' +
     '    if (scanf("%99s", name) == 1) {\n        printf("Hello, %s!\\n", name);\n    }\n' +
     '    return 0;\n}\n',
  "C++": '#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n' +
         '    std::getline(std::cin, name);\n    std::cout << "Hello, " << name << "!\\n";\n' +
         '    return 0;\n}\n',
  "C#": 'using System;\n\nclass Program {\n    static void Main() {\n' +
        '        string name = Console.ReadLine();\n' +
        '        Console.WriteLine($"Hello, {name}!");\n    }\n}\n',
  Java: 'import java.util.Scanner;\n\npublic class Main {\n' +
        '    public static void main(String[] args) {\n' +
        '        Scanner in = new Scanner(System.in);\n        String name = in.nextLine();\n' +
        '        System.out.println("Hello, " + name + "!");\n    }\n}\n',
  JavaScript: 'const name = require("fs").readFileSync(0, "utf8").trim();\n' +
              'console.log(`Hello, ${name}!`);\n',
  Bash: 'read -r name\necho "Hello, $name!"\n',
  Go: 'package main\n\nimport "fmt"\n\nfunc main() {\n    var name string\n' +
      '    fmt.Scanln(&name)\n    fmt.Printf("Hello, %s!\\n", name)\n}\n',
  Rust: 'use std::io;\n\nfn main() {\n    let mut name = String::new();\n' +
        '    io::stdin().read_line(&mut name).unwrap();\n' +
        '    println!("Hello, {}!", name.trim());\n}\n',
  Ruby: 'name = gets.chomp\nputs "Hello, #{name}!"\n',
  PHP: '<?php\n$name = trim(fgets(STDIN));\necho "Hello, $name!\\n";\n',
  Perl: 'my $name = <STDIN>;\nchomp $name;\nprint "Hello, $name!\\n";\n',
  Lua: 'local name = io.read()\nprint("Hello, " .. name .. "!")\n',
  Kotlin: 'fun main() {\n    val name = readLine()\n    println("Hello, $name!")\n}\n',
  Haskell: 'main :: IO ()\nmain = do\n    name <- getLine\n' +
           '    putStrLn ("Hello, " ++ name ++ "!")\n',
};

/** The part of a language's name before its version: "C++ (GCC 12.2.0)" -> "C++". */
export function family(name) {
  const paren = name.indexOf(" (");
  return paren < 0 ? name : name.slice(0, paren);
}

export function starterFor(name) {
  return STARTERS[family(name)] ?? "";
}
