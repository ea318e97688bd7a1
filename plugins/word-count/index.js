// word-count: {text} -> {words, characters, lines}. Characters are Unicode code points; lines
// are counted as a text editor shows them (an empty text has none, a last line needs no '\n').
'use strict';

module.exports = (input) => {
  const text = input && typeof input.text === 'string' ? input.text : '';
  if (input && input.text !== undefined && typeof input.text !== 'string') {
    throw new Error('text must be a string');
  }
  const words = text.split(/\s+/u).filter((word) => word !== '').length;
  const characters = Array.from(text).length;
  let lines = text === '' ? 0 : text.split('\n').length;
  if (text.endsWith('\n')) lines -= 1;
  return {words, characters, lines};
};
