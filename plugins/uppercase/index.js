// uppercase: {text} -> {text} in upper case (locale-independent).
'use strict';

module.exports = async (input) => {
  if (!input || typeof input.text !== 'string') throw new Error('input.text must be a string');
  return {text: input.text.toUpperCase()};
};
