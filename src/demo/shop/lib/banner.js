// The line on top of the home page. Small, visible changes go here.
'use strict';

module.exports = { banner: 'Welcome to the tea shop.' };
