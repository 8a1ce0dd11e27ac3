import { bad } from './problems.ts';

// `--entrypoint` and `--args` take one string that Docker splits as a shell would (shlex):
// whitespace separates words, single quotes keep everything, double quotes keep all but
// backslash escapes of \ " $ `, and a backslash outside quotes keeps the next character.
// No expansion of any kind happens.

export function splitShellWords(text: string, flag: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) bad(`${flag}: "${text}" has an unclosed single quote`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) bad(`${flag}: "${text}" has an unclosed double quote`);
        const d = text[i] as string;
        if (d === '"') break;
        if (d === '\\' && i + 1 < text.length && '\\"$`\n'.includes(text[i + 1] as string)) {
          word += text[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      inWord = true;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= text.length) bad(`${flag}: "${text}" ends with a lone backslash`);
      word += text[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
