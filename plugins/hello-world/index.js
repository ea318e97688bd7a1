// hello-world: {name} -> {greeting: "Hello, <name>!"}.
'use strict';

module.exports = async (input) => {
  const name = input && typeof input.name === 'string' && input.name !== '' ? input.name : 'world';
  return {greeting: `Hello, ${name}!`};
};
